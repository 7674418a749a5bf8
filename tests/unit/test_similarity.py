"""Normalisation and MinHash sketches for ipv6.web.parity."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import serde
from auditor.obs.http import BodySketch
from auditor.similarity import K, normalise, similarity, sketch

_TEXT = (
    "cổng thông tin điện tử ủy ban nhân dân tỉnh quảng ninh tin tức sự kiện văn bản chỉ đạo "
    "điều hành dịch vụ công trực tuyến thủ tục hành chính liên hệ sở ban ngành huyện thị xã "
    "thành phố hỏi đáp lịch công tác thông báo tuyển dụng đấu thầu"
)
WORDS = _TEXT.split()


def page(seed: int, n: int = 1500) -> str:
    rnd = random.Random(seed)
    paras = [" ".join(rnd.choice(WORDS) for _ in range(30)) for _ in range(n // 30)]
    return "<html><body>" + "".join(f"<p>{p}</p>" for p in paras) + "</body></html>"


def test_volatile_parts_are_normalised() -> None:
    a = (
        '<script nonce="r4nd0mA">x()</script>'
        '<input type="hidden" name="__RequestVerificationToken" value="CfDJ8aaaa">'
        '<input type="hidden" name="__VIEWSTATE" value="/wEPDwUKLTI2NjY5">'
        '<meta name="csrf-token" content="abc">'
        '<a href="/trang;jsessionid=ABC123?x=1">Cập nhật 10:31 27/11/2026</a>'
        "<img src=/a.png?v=5f4dcc3b5aa765d61d8327deb882cf99>"
    )
    b = (
        '<script nonce="ZZZother">x()</script>'
        '<input type="hidden" name="__RequestVerificationToken" value="CfDJ8bbbbbb">'
        '<input type="hidden" name="__VIEWSTATE" value="/wEPDwUKMTIzNDU2">'
        '<meta name="csrf-token" content="xyz">'
        '<a href="/trang;jsessionid=XYZ999?x=1">Cập nhật 11:02 28/11/2026</a>'
        "<img src=/a.png?v=098f6bcd4621d373cade4e832627b4f6>"
    )
    assert normalise(a) == normalise(b)
    assert similarity(sketch(a, len(a)), sketch(b, len(b))).value == 1.0


def test_identical_and_disjoint_pages() -> None:
    a = sketch(page(1), 1000)
    assert similarity(a, a).value == 1.0
    other = sketch("<h1>Welcome to nginx!</h1> If you see this page, the web server works", 80)
    assert similarity(a, other).value < 0.05


def test_small_edit_is_similar_large_difference_is_not() -> None:
    base = page(2)
    words = base.split(" ")
    edited = " ".join([*words[:50], "tin", "mới", *words[50:]])  # a small news insert
    s1, s2 = sketch(base, 1), sketch(edited, 1)
    assert s1.shingles > K  # the estimator path, not the exact one
    assert similarity(s1, s2).value >= 0.9
    half = " ".join(words[: len(words) // 2]) + page(3)
    assert similarity(s1, sketch(half, 1)).value < 0.9


def test_estimate_close_to_true_jaccard() -> None:
    # Two pages sharing about half their paragraphs: estimate within 0.15 of exact.
    a_text, b_text = page(4), page(5)
    shared = a_text[: len(a_text) // 2] + b_text[len(b_text) // 2 :]
    sa, sb = sketch(a_text, 1), sketch(shared, 1)
    big = sketch(a_text, 1, k=100000)
    bigb = sketch(shared, 1, k=100000)
    exact = similarity(big, bigb).value
    assert abs(similarity(sa, sb).value - exact) < 0.15


def test_empty_pages() -> None:
    empty = sketch("", 0)
    assert similarity(empty, sketch("   ", 3)).value == 1.0
    assert similarity(empty, sketch("hello world", 11)).value == 0.0


def test_sketch_is_compact_and_round_trips() -> None:
    s = sketch(page(6, 20000), 200000)
    assert len(s.minhash) == K
    assert all(0 <= h < 2**52 for h in s.minhash)
    assert list(s.minhash) == sorted(s.minhash)
    assert serde.loads(serde.dumps(s), BodySketch) == s


@settings(max_examples=50)
@given(st.text(max_size=400), st.text(max_size=400))
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    sa, sb = sketch(a, len(a)), sketch(b, len(b))
    x, y = similarity(sa, sb).value, similarity(sb, sa).value
    assert x == y
    assert 0.0 <= x <= 1.0
