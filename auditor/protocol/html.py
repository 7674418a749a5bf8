"""HTML, read the little a security audit needs: the subresources a page loads from other
hosts (for ipv6.web.only) and the Content-Security-Policy ``<meta>`` elements of its head.

The page is remote, untrusted text: both readers are linear-time, bounded and total
(never raise on input).
"""

from __future__ import annotations

import contextlib
import re
from html import unescape as html_unescape
from urllib.parse import urljoin, urlsplit

from auditor.obs.http import SubresourceRef
from auditor.protocol.names import norm_name

MAX_SUBRESOURCES = 200  # subresources kept per page
MAX_URL = 2048  # characters of a URL (a reference, a redirect target) read
MAX_CONTENT = 8 * 1024  # characters kept per <meta> content (a long CSP is ~4 KiB)


_LINK_RELS = frozenset({"stylesheet", "icon", "preload", "modulepreload", "apple-touch-icon"})


# A linear-time tag scanner instead of html.parser: CPython's HTMLParser is quadratic on
# some hostile inputs (minutes for 500 KiB of "<input name="), and the page is remote
# text. Tags are matched up to the next "<" or ">" (non-overlapping, so linear), their
# attributes with one bounded regex; comments are skipped with str.find (linear).
_TAG = re.compile(
    r"<(base|script|link|img|source|iframe|audio|embed|video|object)\b([^<>]{0,4096})>",
    re.I,
)
_ATTR = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")


def _attributes(text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for m in _ATTR.finditer(text):
        name = m.group(1).lower()
        if name not in attrs:  # HTML: the first of duplicate attributes wins
            value = m.group(2) if m.group(2) is not None else m.group(3)
            if value is None:
                value = m.group(4) or ""
            attrs[name] = html_unescape(value)
    return attrs


def _without_comments(html: str) -> str:
    out: list[str] = []
    pos = 0
    while True:
        start = html.find("<!--", pos)
        if start < 0:
            out.append(html[pos:])
            break
        out.append(html[pos:start])
        end = html.find("-->", start + 4)
        if end < 0:
            break  # an unterminated comment runs to the end of the document
        pos = end + 3
    return "".join(out)


class _RefCollector:
    def __init__(self, page_url: str, page_host: str, *, insecure: bool = False) -> None:
        self.base = page_url
        self.base_seen = False
        self.page_host = page_host
        # insecure: collect the http:// references on any host (mixed content), not the
        # references to other hosts
        self.insecure = insecure
        self.refs: dict[str, SubresourceRef] = {}

    def _add(self, tag: str, value: str | None) -> None:
        if not value or len(self.refs) >= MAX_SUBRESOURCES:
            return
        value = value.strip()
        if not value or value.lower().startswith(("data:", "javascript:", "about:", "blob:")):
            return
        try:
            url = urljoin(self.base, value[:MAX_URL])
            parts = urlsplit(url)
            host = norm_name(parts.hostname or "")
        except ValueError:
            return
        if self.insecure:
            if parts.scheme != "http" or not host:
                return
        elif parts.scheme not in ("http", "https") or not host or host == self.page_host:
            return
        url = parts._replace(fragment="").geturl()
        if url not in self.refs:
            self.refs[url] = SubresourceRef(url=url, tag=tag, host=host)

    def _srcset(self, tag: str, value: str | None) -> None:
        for candidate in (value or "").split(","):
            words = candidate.split()
            if words:
                self._add(tag, words[0])

    def tag(self, tag: str, a: dict[str, str]) -> None:
        if tag == "base" and not self.base_seen and a.get("href"):
            self.base_seen = True
            with contextlib.suppress(ValueError):
                self.base = urljoin(self.base, a["href"][:MAX_URL])
        elif tag == "script":
            self._add(tag, a.get("src"))
        elif tag == "link":
            rels = set((a.get("rel") or "").lower().split())
            if rels & _LINK_RELS or any("icon" in r for r in rels):
                self._add(tag, a.get("href"))
        elif tag in ("img", "source"):
            self._add(tag, a.get("src"))
            self._srcset(tag, a.get("srcset"))
        elif tag in ("iframe", "audio", "embed"):
            self._add(tag, a.get("src"))
        elif tag == "video":
            self._add(tag, a.get("src"))
            self._add(tag, a.get("poster"))
        elif tag == "object":
            self._add(tag, a.get("data"))


# The head of a document, for <meta http-equiv> (HTML "pragma directives"): tags are
# scanned in order; the raw-text elements are skipped whole so a "<meta" inside a script
# is not taken for one, and the head ends at </head>, <body> or the first element that
# cannot be in a head (the parser would start the body there).
_HEAD_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)\b([^<>]{0,4096})>")
_HEAD_ELEMENTS = frozenset({"html", "head", "meta", "title", "link", "base", "style", "script",
                            "noscript", "template"})  # fmt: skip
_SKIP_CONTENT = frozenset({"script", "style", "title", "noscript", "template", "textarea"})
MAX_META_CSP = 20


def meta_csp(html: str) -> tuple[str, ...]:
    """The content of every ``<meta http-equiv="Content-Security-Policy">`` in the head.

    HTML: http-equiv is an enumerated attribute, matched ASCII case-insensitively and
    *not* trimmed (Mozilla Observatory trims " Content-Security-Policy "; browsers do not
    apply that one). CSP3 sec. 3.3: only a meta in the head counts, and an empty content
    is ignored. noscript content is skipped (with scripting on, which the policy is for,
    it is raw text).
    """
    text = _without_comments(html)
    lowered = text.lower()
    out: list[str] = []
    pos = 0
    while len(out) < MAX_META_CSP:
        m = _HEAD_TAG.search(text, pos)
        if not m:
            break
        closing, name = m.group(1) == "/", m.group(2).lower()
        pos = m.end()
        if closing:
            if name == "head":
                break
            continue
        if name not in _HEAD_ELEMENTS:
            break  # <body>, <div>...: the head is over
        if name in _SKIP_CONTENT:
            end = lowered.find(f"</{name}", pos)
            pos = len(text) if end < 0 else end
            continue
        if name == "meta":
            a = _attributes(m.group(3))
            if a.get("http-equiv", "").lower() == "content-security-policy" and a.get("content"):
                out.append(a["content"][:MAX_CONTENT])
    return tuple(out)


def insecure_subresources(html: str, page_url: str) -> tuple[SubresourceRef, ...]:
    """Subresources of a page loaded over plain http:// (on any host, the page's own
    included): on an https page, mixed content (W3C Mixed Content sec. 3). Absolute,
    de-duplicated, capped as :func:`extract_subresources`."""
    collector = _RefCollector(page_url, "", insecure=True)
    for m in _TAG.finditer(_without_comments(html)):
        collector.tag(m.group(1).lower(), _attributes(m.group(2)))
        if len(collector.refs) >= MAX_SUBRESOURCES:
            break
    return tuple(collector.refs.values())


def extract_subresources(html: str, page_url: str, page_host: str) -> tuple[SubresourceRef, ...]:
    """Subresources of a page hosted on *other* hosts, absolute, de-duplicated, capped."""
    collector = _RefCollector(page_url, norm_name(page_host))
    for m in _TAG.finditer(_without_comments(html)):
        collector.tag(m.group(1).lower(), _attributes(m.group(2)))
        if len(collector.refs) >= MAX_SUBRESOURCES:
            break
    return tuple(collector.refs.values())
