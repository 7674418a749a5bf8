"""Vietnamese and English carry the same guidance (issue #18, part 1): the parity of the
catalogues. The English catalogue of the checks is the registry's metadata (title,
description, remediation per platform); the Vietnamese one is ``reports/locales/vi.yaml``
``checks:``. A check, a platform of its fix, a UI string or a placeholder that one
language has and the other lacks fails here, so no agency reads half the advice."""

from __future__ import annotations

import string
from typing import Any

import pytest
import yaml

from auditor.profiles import list_profiles, load_profile
from auditor.registry import all_checks
from reports.i18n import FIX_KEYS, LOCALE_DIR, Catalog


def _locale(lang: str) -> dict[str, Any]:
    data = yaml.safe_load((LOCALE_DIR / f"{lang}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = str(value)
    return out


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


VI_CHECKS: dict[str, Any] = _locale("vi")["checks"]


@pytest.mark.parametrize("spec", all_checks(), ids=lambda s: s.id)
def test_every_check_has_the_same_shape_in_both_languages(spec: Any) -> None:
    vi = VI_CHECKS.get(spec.id)
    assert isinstance(vi, dict), f"{spec.id}: no Vietnamese entry in reports/locales/vi.yaml"
    assert str(vi.get("title") or "").strip(), f"{spec.id}: no Vietnamese title"
    assert str(vi.get("why") or "").strip(), f"{spec.id}: no Vietnamese 'why it matters'"
    assert spec.title.strip() and spec.description.strip(), f"{spec.id}: no English text"
    english = {k for k, text in spec.remediation.items() if str(text).strip()}
    vietnamese = {k for k, text in (vi.get("fix") or {}).items() if str(text).strip()}
    assert english <= set(FIX_KEYS) and vietnamese <= set(FIX_KEYS)
    assert vietnamese == english, (
        f"{spec.id}: fix platforms differ: only English {sorted(english - vietnamese)}, "
        f"only Vietnamese {sorted(vietnamese - english)}"
    )


def test_the_vietnamese_page_shows_every_platform_of_the_english_one() -> None:
    vi, en = Catalog("vi"), Catalog("en")
    for spec in all_checks():
        assert list(vi.check_fix(spec.id)) == list(en.check_fix(spec.id)), spec.id


def test_no_vietnamese_text_for_a_check_that_does_not_exist() -> None:
    known = {s.id for s in all_checks()} | {a for s in all_checks() for a in s.aliases}
    assert sorted(set(VI_CHECKS) - known) == []


def test_ui_strings_and_their_placeholders_match() -> None:
    vi, en = _leaves(_locale("vi")["ui"]), _leaves(_locale("en")["ui"])
    assert sorted(set(en) - set(vi)) == [], "UI strings missing in Vietnamese"
    assert sorted(set(vi) - set(en)) == [], "UI strings missing in English"
    differ = {k: (_fields(en[k]), _fields(vi[k])) for k in en if _fields(en[k]) != _fields(vi[k])}
    assert differ == {}


@pytest.mark.parametrize("name", list_profiles())
def test_every_profile_text_has_its_vietnamese_title(name: str) -> None:
    profile = load_profile(name)
    assert profile.title_vi, f"{name}: no title_vi"
    if profile.kpi is not None:
        assert profile.kpi.title_vi, f"{name}: the KPI has no title_vi"
    missing = [r.id for r in profile.requirements if not r.title_vi]
    assert missing == [], f"{name}: requirements without title_vi"


def test_outcome_words_are_localised_and_unknown_codes_shown_as_they_are() -> None:
    vi, en = Catalog("vi"), Catalog("en")
    assert vi.outcome("timeout") == "hết thời gian chờ"
    assert en.outcome("nxdomain") == "name does not exist (NXDOMAIN)"
    assert vi.outcome("bogus").startswith("ký số không hợp lệ")
    # A value no catalogue knows (remote data, a future outcome) is data: shown as it is.
    assert vi.outcome("tls_alert.x") == "tls_alert.x"
    assert vi.outcome("<b>new</b>") == "<b>new</b>"
    from auditor.obs.core import Outcome

    codes = [v for k, v in vars(Outcome).items() if k.isupper() and isinstance(v, str)]
    assert len(codes) >= 15
    for code in codes:  # every outcome the probes record has its Vietnamese word
        assert vi.outcome(code) != code, code
