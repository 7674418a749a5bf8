"""broke_client_order (auditor/probes/tls.py): the cipher enumeration's picks as proof that
a server keeps its own suite order. Pure: offers and picks, no network."""

from __future__ import annotations

from auditor.probes.tls import broke_client_order

ALL = (1, 2, 3, 4, 5, 6)


def test_server_order_shows_on_the_reversed_second_hello() -> None:
    # a server preferring 2 > 5 > 3: the forward hello gets 2, the reversed rest gets 5
    # (a client-order server would have picked 5 there too) ... then 3 forward
    steps = [(ALL, 2), ((6, 5, 4, 3, 1), 5), ((1, 3, 4, 6), 3)]
    assert not broke_client_order(steps[:2], {2, 5, 3})
    assert broke_client_order(steps, {2, 5, 3}) is False  # 2, 5, 3 fits the client order
    steps = [(ALL, 2), ((6, 5, 4, 3, 1), 3), ((1, 4, 5, 6), 5)]  # preference 2 > 3 > 5
    assert broke_client_order(steps, {2, 3, 5})


def test_client_order_never_reads_as_server_order() -> None:
    supported = {2, 3, 5}
    steps = [(ALL, 2), ((6, 5, 4, 3, 1), 5), ((1, 3, 4, 6), 3)]  # first accepted each time
    assert not broke_client_order(steps, supported)


def test_a_cut_short_enumeration_still_proves() -> None:
    # only 2 and 4 found before an error; 4 was picked where 2 came first in the offer
    assert broke_client_order([((4, 2, 1), 2), ((1, 2, 4), 4)], {2, 4})
    assert not broke_client_order([(ALL, 2)], {2})
    assert not broke_client_order([], set())
