"""Message catalogues (reports/locales/{vi,en}.yaml) for the report renderers.

UI strings live in the catalogues, never in templates. Per-check text (title, why it
matters, how to fix) comes from the check registry's metadata in English; a catalogue may
translate it (``checks: {id: {title, why, fix: {nginx, apache, iis, dns, general}}}``) and the
English text is the fallback for anything missing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from auditor.profiles import Requirement
from auditor.registry import get_check, is_known

LOCALE_DIR = Path(__file__).resolve().parent / "locales"
LANGS = ("vi", "en")
FIX_KEYS = ("general", "nginx", "apache", "iis", "dns")


@functools.cache
def _load(lang: str) -> dict[str, Any]:
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; use one of {', '.join(LANGS)}")
    data = yaml.safe_load((LOCALE_DIR / f"{lang}.yaml").read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{lang}.yaml: expected a mapping")
    return data


class Catalog:
    """Look-ups for one language, with English (and the registry) as the fallback."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.data = _load(lang)
        self.fallback = _load("en")

    def t(self, key: str, **kwargs: Any) -> str:
        """A UI string; ``{name}`` placeholders are filled from ``kwargs`` (plain text)."""
        text = self._lookup(self.data.get("ui", {}), key)
        if text is None:
            text = self._lookup(self.fallback.get("ui", {}), key)
        if text is None:
            return key
        if kwargs:
            try:
                return str(text).format(**kwargs)
            except (KeyError, IndexError, ValueError):
                return str(text)
        return str(text)

    @staticmethod
    def _lookup(tree: Mapping[str, Any], key: str) -> str | None:
        node: Any = tree
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return None if isinstance(node, Mapping) else str(node)

    def status(self, status: str) -> str:
        return self.t(f"status_{status}")

    def outcome(self, code: object) -> str:
        """An observation's outcome word (``ok``, ``timeout``, ``nxdomain``, a DNSSEC
        state...) in this language; a code no catalogue knows is shown as it is (remote
        or future values are data, never a missing-key marker)."""
        text = str(code)
        for tree in (self.data, self.fallback):
            found = self._lookup(tree.get("ui", {}).get("outcomes", {}) or {}, text)
            if found is not None and "." not in text:
                return found
        return text

    def level(self, level: str) -> str:
        return self.t(f"level_{level}")

    def category(self, category: str) -> str:
        return self.t(f"categories.{category}") if category else ""

    def _check(self, check_id: str) -> Mapping[str, Any]:
        entry = (self.data.get("checks") or {}).get(check_id)
        return entry if isinstance(entry, Mapping) else {}

    def check_title(self, check_id: str) -> str:
        title = self._check(check_id).get("title")
        if title:
            return str(title).strip()
        return get_check(check_id).title if is_known(check_id) else check_id

    def check_why(self, check_id: str) -> str:
        why = self._check(check_id).get("why")
        if why:
            return " ".join(str(why).split())
        return " ".join(get_check(check_id).description.split()) if is_known(check_id) else ""

    def check_fix(self, check_id: str) -> dict[str, str]:
        """How to fix, per platform (general, nginx, apache, iis, dns), in display order."""
        local = self._check(check_id).get("fix")
        # A translated fix is shown on its own (no mixing of languages in one box); the
        # registry's English remediation is the fallback when there is no translation.
        source: Mapping[str, Any]
        if isinstance(local, Mapping) and local:
            source = local
        else:
            source = get_check(check_id).remediation if is_known(check_id) else {}
        return {k: " ".join(str(source[k]).split()) for k in FIX_KEYS if source.get(k)}

    def requirement_title(self, req: Requirement) -> str:
        if self.lang == "vi" and req.title_vi:
            return req.title_vi
        return req.title


def split_code(text: str) -> list[tuple[bool, str]]:
    """Split ``a `b` c`` into [(False, 'a '), (True, 'b'), (False, ' c')] for <code> rendering.

    The template escapes every part; nothing here is markup.
    """
    parts = text.split("`")
    if len(parts) % 2 == 0:  # unbalanced backticks: show the text as it is
        return [(False, text)]
    return [(i % 2 == 1, p) for i, p in enumerate(parts) if p]
