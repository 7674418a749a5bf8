"""The subresource probe's decisions that need no server. MTA-STS fetches and subresource
probes against servers on loopback are tests/integration/test_probes_mail_web.py.
"""

from __future__ import annotations

import pytest

from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, HostDns, Outcome
from auditor.obs.http import HttpObservation
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.subresources import probe_subresources

# ------------------------------------------------------------------ subresources


@pytest.mark.asyncio
async def test_subresources_skipped_without_ipv6_page() -> None:
    host = "www.example.gov.vn"
    a = DnsAnswer(host, "A", Outcome.OK, ("192.0.2.1",))
    none = DnsAnswer(host, "AAAA", Outcome.NODATA)
    ctx = ProbeContext(ScanOptions(timeout=1))
    sub = await probe_subresources(ctx, HostObservations(host, HostDns(host, a, none)))
    assert sub.outcome == Outcome.SKIPPED
    v6 = DnsAnswer(host, "AAAA", Outcome.OK, ("2001:db8::1",))
    obs = HostObservations(
        host, HostDns(host, a, v6), http=(HttpObservation("2001:db8::1", Outcome.TIMEOUT),)
    )
    sub = await probe_subresources(ctx, obs)
    assert sub.outcome == Outcome.SKIPPED and "timeout" in sub.detail
