"""Page similarity for the v4/v6 parity check, without storing pages.

A scan covers thousands of hosts, so a landing page is reduced to a sketch: the
bottom-k MinHash of the word shingles of its *normalised* text (k = 128 hashes of 52
bits: JSON-safe integers), the sha256 of the normalised text and the body length. The
pure check estimates the Jaccard similarity of two pages from their sketches
(Broder 1997, "On the resemblance and containment of documents"): with bottom-k
sketches A and B, take the k smallest hashes of A | B; the share of them present in
both is an unbiased estimate of |A & B| / |A | B|. Sets smaller than k are kept whole,
so small pages compare exactly.

Normalisation removes what legitimately differs between two fetches of the same page:
CSP nonces, CSRF tokens and ASP.NET __VIEWSTATE (IIS portals), session ids in URLs,
timestamps, long hex/base64 tokens and every run of digits (counters, dates, cache
busters). Internet.nl's web_ipv6_ws_similar compares the v4 and v6 pages the same way
in spirit (a similarity ratio with a 90 % threshold).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from auditor.obs.http import BodySketch

K = 128  # hashes per sketch: standard error of the estimate ~ 1/sqrt(K) ~ 9 %, worst case
SHINGLE = 4  # words per shingle
_MASK = (1 << 52) - 1  # JSON-safe integers (IEEE double mantissa)

# Every pattern is linear-time on hostile input (bounded repetitions, no nested
# quantifiers that can backtrack): the body is remote text, up to ScanOptions.max_body.
_TOKEN_TAG = re.compile(r"<(?:input|meta)\b[^<>]{0,2048}>", re.I)
_TOKEN_WORDS = ("csrf", "token", "viewstate", "eventvalidation", "nonce", "session", "sid")
_VOLATILE: tuple[tuple[re.Pattern[str], str], ...] = (
    # nonce="..." on script/style tags
    (re.compile(r"""nonce\s{0,8}=\s{0,8}["']?[^"'\s>]{0,256}["']?""", re.I), "nonce=_"),
    # session ids and tokens in URLs: jsessionid=..., PHPSESSID=..., p_auth=... (Liferay)
    (
        re.compile(
            r"(?:jsessionid|phpsessid|aspsessionid\w{0,16}|sid|sessionid|p_auth|csrf\w{0,16}"
            r"|_?token)=[^&\"'\s;>?#]{0,256}",
            re.I,
        ),
        "sid=_",
    ),
    # long hex / base64-ish tokens (hashes, cache busters, signed URLs)
    (re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}"), "_tok_"),
    # any run of digits: dates, times, counters, ids
    (re.compile(r"\d+"), "0"),
)


_SESSION_IN_URL = _VOLATILE[1][0]


def _token_tag(m: re.Match[str]) -> str:
    # hidden form fields and meta tags carrying tokens: csrf, _token, authenticity_token,
    # __RequestVerificationToken, __VIEWSTATE, __EVENTVALIDATION (ASP.NET on IIS), ...
    low = m.group(0).lower()
    return "<token>" if any(w in low for w in _TOKEN_WORDS) else m.group(0)


_WORD = re.compile(r"\w+", re.UNICODE)


def normalise_url(url: str) -> str:
    """A redirect target without session ids and tokens (they differ on every fetch)."""
    return _SESSION_IN_URL.sub("sid=_", url)


# The session-id pattern tries its alternation at every position (a third of a sketch's
# CPU on a plain page): run it only when one of its names occurs at all.
_SESSION_HINTS = ("sessid", "sessionid", "sid=", "p_auth", "csrf", "token")


def normalise(text: str) -> str:
    """Lower-cased text with volatile parts replaced by fixed placeholders."""
    out = _TOKEN_TAG.sub(_token_tag, text) if "<" in text else text
    low = out.lower()
    for pattern, repl in _VOLATILE:
        if pattern is _SESSION_IN_URL and not any(h in low for h in _SESSION_HINTS):
            continue
        out = pattern.sub(repl, out)
    return " ".join(_WORD.findall(out.lower()))


def _h(shingle: str) -> int:
    digest = hashlib.blake2b(shingle.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _MASK


def shingles(normalised: str, size: int = SHINGLE) -> set[int]:
    words = normalised.split()
    if not words:
        return set()
    if len(words) < size:
        return {_h(" ".join(words))}
    # join first, hash each distinct shingle once (pages repeat their menus and footers)
    grams = {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}
    return {_h(g) for g in grams}


def sketch(text: str, length: int, truncated: bool = False, k: int = K) -> BodySketch:
    """The sketch of one page body (``text`` already decoded and capped)."""
    norm = normalise(text)
    hashes = shingles(norm)
    return BodySketch(
        length=length,
        sha256=hashlib.sha256(norm.encode("utf-8", "surrogatepass")).hexdigest(),
        minhash=tuple(sorted(hashes)[:k]),
        shingles=len(hashes),
        truncated=truncated,
    )


@dataclass(frozen=True)
class Similarity:
    value: float  # estimated Jaccard similarity in [0, 1]
    exact: bool  # identical normalised text, or both sketches held their whole sets


def similarity(a: BodySketch, b: BodySketch) -> Similarity:
    """Estimated Jaccard similarity of the shingle sets of two pages."""
    if a.sha256 and a.sha256 == b.sha256:
        return Similarity(1.0, True)
    sa, sb = set(a.minhash), set(b.minhash)
    if not sa and not sb:
        return Similarity(1.0, True)  # both empty pages
    if not sa or not sb:
        return Similarity(0.0, True)
    k = min(len(a.minhash), len(b.minhash), K)
    exact = a.shingles == len(a.minhash) and b.shingles == len(b.minhash)
    if exact:
        return Similarity(len(sa & sb) / len(sa | sb), True)
    union_bottom = sorted(sa | sb)[:k]
    both = sum(1 for h in union_bottom if h in sa and h in sb)
    return Similarity(both / len(union_bottom), False)
