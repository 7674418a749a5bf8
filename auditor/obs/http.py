"""HTTP observations: what one address answered over http:// and https://.

Everything is fetched pinned to a literal address with Host and SNI set to the host
name. Nothing here decides pass or fail; the pure checks in ``checks/http.py`` do.

Storage budget: thousands of hosts per scan, so bodies are never stored. A landing
page is kept as a compact similarity sketch (:class:`BodySketch`) plus the hosts of
its subresources; only security.txt (small, needed for parsing) is kept as text,
capped. Every field added later MUST have a default so stored scans still load.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubresourceRef:
    """One subresource of the landing page hosted on *another* host.

    ``url`` is absolute (resolved against the page URL / <base href>), ``tag`` is the
    element it came from ("script", "link", "img", "iframe", "source", "video", "audio",
    "embed", "object"), ``host`` the lower-case host name (or IP literal) of ``url``.
    """

    url: str
    tag: str
    host: str


@dataclass(frozen=True)
class BodySketch:
    """A compact fingerprint of one response body for the v4/v6 parity check.

    Built by :func:`auditor.similarity.sketch` over the capped body with volatile
    parts (nonces, CSRF tokens, timestamps, session ids, numbers) normalised.
    """

    length: int  # bytes of the (decoded, capped) body as read
    sha256: str  # of the normalised text: equal hashes mean identical pages
    minhash: tuple[int, ...] = ()  # bottom-k hashes of the word shingles, ascending
    shingles: int = 0  # distinct shingles in the page (the sketch holds min(k, this))
    truncated: bool = False  # the body was longer than the cap


@dataclass(frozen=True)
class HttpResponse:
    """One request/response of a chain (a redirect hop or the final page)."""

    url: str  # the URL as the host name (https://host/path), not the literal address
    status: int
    headers: tuple[tuple[str, str], ...] = ()  # (name, value) as received: order, duplicates
    headers_truncated: bool = False  # the header cap cut the list or a value
    location: str = ""  # raw Location header (first one), truncated
    target: str = ""  # absolute URL the Location resolves to ("" if none / unparsable)
    http_version: str = ""
    # What the caps cut (set with headers_truncated; both empty in records made before
    # they existed, where what was cut is unknown): the lower-case names of the fields
    # whose value was cut at MAX_VALUE, and whether fields after the cap were dropped.
    cut_values: tuple[str, ...] = ()
    headers_dropped: bool = False
    location_cut: bool = False  # the Location was longer than the cap: not followed

    def header_values(self, name: str) -> tuple[str, ...]:
        """All values of one header (case-insensitive name), in order received."""
        low = name.lower()
        return tuple(v for n, v in self.headers if n.lower() == low)

    def _cut_unknown(self) -> bool:
        return self.headers_truncated and not self.headers_dropped and not self.cut_values

    def value_cut(self, name: str) -> bool:
        """A value of ``name`` may have been cut by the cap."""
        return self._cut_unknown() or name.lower() in self.cut_values

    def values_incomplete(self, name: str) -> bool:
        """The caps may have cut a value of ``name`` or dropped some of its fields."""
        return self.headers_truncated and (self.value_cut(name) or self.headers_dropped)

    def first_value_unknown(self, name: str) -> bool:
        """The first ``name`` field (the one browsers use for HSTS, nosniff) is not known
        whole: cut, or absent from what was kept while later fields were dropped."""
        return self.value_cut(name) or (self.headers_dropped and not self.header_values(name))

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400 and bool(self.location)


@dataclass(frozen=True)
class HttpFetch:
    """A request for ``start_url`` and the redirects followed from it, hop by hop.

    Redirects are followed only while they stay on the same host (the address is
    pinned; another host would need its own DNS and its own scan entry). ``stopped``
    says why the chain ended; ``outcome`` is about the whole chain: ``ok`` when the last
    request got a response, else the failure of the request that failed (the hops that
    did answer are kept).
    """

    start_url: str
    outcome: str  # auditor.obs.core.Outcome
    detail: str = ""
    hops: tuple[HttpResponse, ...] = ()
    # "" (final non-redirect response) | off-host | max-redirects | loop | bad-location
    # | scheme | error (a later hop failed; see outcome/detail)
    stopped: str = ""
    # https only: did the certificate verify (trust store, host name, validity, and the
    # key sizes and signatures the default OpenSSL security level and browsers require)?
    tls_verified: bool | None = None
    body: BodySketch | None = None  # sketch of the final response's body (non-redirect)
    tls_error: str = ""  # why it did not verify (tls_verified False)
    # content of each <meta http-equiv="Content-Security-Policy"> in the head of the final
    # page (CSP3 sec. 3.3), as written, capped
    meta_csp: tuple[str, ...] = ()

    @property
    def first(self) -> HttpResponse | None:
        return self.hops[0] if self.hops else None

    @property
    def last(self) -> HttpResponse | None:
        return self.hops[-1] if self.hops else None


@dataclass(frozen=True)
class SecurityTxtFetch:
    """``https://host/.well-known/security.txt`` (RFC 9116), text capped."""

    url: str  # the URL finally read (after same-host redirects)
    outcome: str
    detail: str = ""
    status: int | None = None
    content_type: str = ""
    text: str = ""  # decoded body ("" when ``truncated``: a file over the cap is not kept)
    truncated: bool = False  # the body was larger than ``cap`` bytes (after decompression)
    redirects: tuple[str, ...] = ()  # Location targets followed, in order
    tls_verified: bool | None = None
    cap: int | None = None  # bytes read at most (None: scans stored before it was recorded)
    unreadable: str = ""  # why the body could not be decoded (content-encoding, corrupt gzip)
    invalid_utf8: bool = False  # ``text`` was decoded as UTF-8 with replacements


@dataclass(frozen=True)
class PathFetch:
    """One department path of the host (an inventory ``paths`` entry other than "/"),
    fetched from this address over https (http when 443 is not open), redirects hop by
    hop as for the root, and the http:// subresources of its final page when that is an
    https page (mixed content, W3C Mixed Content sec. 3)."""

    path: str
    fetch: HttpFetch
    insecure: tuple[SubresourceRef, ...] = ()  # http:// subresources of an https page
    insecure_cut: str = ""  # why ``insecure`` may not be the page's all ("" when whole)
    page: bool = False  # the final response was an HTML page read (mixed content judged)


@dataclass(frozen=True)
class HttpObservation:
    """Everything fetched over HTTP(S) from one address, pinned, with Host and SNI set."""

    address: str
    outcome: str  # auditor.obs.core.Outcome: ok when any request got a response
    detail: str = ""
    http: HttpFetch | None = None  # http://host/ (None: port 80 not open)
    https: HttpFetch | None = None  # https://host/ (None: port 443 not open)
    security_txt: SecurityTxtFetch | None = None
    # Other hosts the landing page loads from (the final page of https://host/ when it is
    # 200, else of http://host/), de-duplicated, capped. Read by ipv6.web.only.
    subresources: tuple[SubresourceRef, ...] = ()
    landing_url: str = ""  # the page the subresources came from ("" when none)
    # Why ``subresources`` may not be all of the page's (body cap, URL cap); "" when whole.
    subresources_cut: str = ""
    # The department paths of the host asked for (TargetKind.PATH), in inventory order.
    paths: tuple[PathFetch, ...] = ()

    def path(self, path: str) -> PathFetch | None:
        for item in self.paths:
            if item.path == path:
                return item
        return None
