"""MTA-STS (RFC 8461): the ``_mta-sts`` TXT record and the policy file over HTTPS.

The policy host ``mta-sts.<zone>`` is resolved and fetched from its literal addresses
(IPv6 first), with SNI and Host set to the name and the certificate verified against it,
as a sending MTA would. No redirects (RFC 8461 section 3.3), size-capped body.
"""

from __future__ import annotations

import httpx

from auditor.obs.core import DnsAnswer, Outcome
from auditor.obs.zone import MtaStsFetch, MtaStsObservation, ServerHost
from auditor.probes.context import ProbeContext
from auditor.protocol.addresses import endpoint
from auditor.protocol.mta_sts import is_mta_sts_txt
from auditor.protocol.txt import txt_texts

POLICY_PATH = "/.well-known/mta-sts.txt"
# RFC 8461 section 3.3 lets senders bound the policy size; 64 KiB is far above any real one.
MAX_POLICY = 64 * 1024


async def probe_mta_sts(ctx: ProbeContext, zone: str) -> MtaStsObservation:
    txt: DnsAnswer = await ctx.dns.query(f"_mta-sts.{zone}", "TXT")
    host = f"mta-sts.{zone}"
    if not any(is_mta_sts_txt(t) for t in txt_texts(txt.records)):
        return MtaStsObservation(txt, host)
    a = await ctx.dns.query(host, "A")
    aaaa = await ctx.dns.query(host, "AAAA")
    sh = ServerHost(host, a, aaaa)
    fetch: MtaStsFetch | None = None
    for address in aaaa.records + a.records:
        fetch = await fetch_policy(ctx, host, address)
        if fetch.status is not None:
            break
    if fetch is None:
        fetch = MtaStsFetch(
            "",
            Outcome.SKIPPED,
            detail=f"{host} has no address (A: {a.outcome}, AAAA: {aaaa.outcome})",
        )
    return MtaStsObservation(txt, host, sh, fetch)


async def fetch_policy(ctx: ProbeContext, host: str, address: str, port: int = 443) -> MtaStsFetch:
    refusal = ctx.guard.refusal(address)
    if refusal:
        return MtaStsFetch(address, Outcome.BLOCKED, detail=refusal)
    unreachable = ctx.unreachable_family(address)
    if unreachable:
        return MtaStsFetch(address, Outcome.SKIPPED, detail=unreachable)
    url = f"https://{endpoint(address, port)}{POLICY_PATH}"
    timeout = httpx.Timeout(ctx.options.timeout)
    async with ctx.address_slot(address):
        ctx.stats["connections"] += 1
        try:
            async with (
                httpx.AsyncClient(
                    verify=ctx.trust_context(),
                    follow_redirects=False,
                    timeout=timeout,
                    trust_env=False,
                ) as client,
                client.stream(
                    "GET",
                    url,
                    headers={"Host": host, "User-Agent": ctx.options.user_agent},
                    extensions={"sni_hostname": host},
                ) as response,
            ):
                body = bytearray()
                too_large = False
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_POLICY:
                        too_large = True
                        break
                ctype = response.headers.get("content-type", "")[:200]
                text = bytes(body[:MAX_POLICY]).decode("utf-8", errors="replace")
                if too_large:
                    return MtaStsFetch(
                        address,
                        Outcome.TOO_LARGE,
                        response.status_code,
                        ctype,
                        text,
                        f"policy larger than {MAX_POLICY} bytes",
                    )
                return MtaStsFetch(address, Outcome.OK, response.status_code, ctype, text)
        except httpx.TimeoutException:
            return MtaStsFetch(address, Outcome.TIMEOUT, detail="no answer before the timeout")
        except httpx.ConnectError as exc:
            return MtaStsFetch(address, *_classify_connect(exc))
        except httpx.HTTPError as exc:
            return MtaStsFetch(
                address, Outcome.PROTOCOL_ERROR, detail=f"{type(exc).__name__}: {exc}"[:300]
            )
        except (OSError, ValueError) as exc:
            return MtaStsFetch(address, Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}"[:300])


def _classify_connect(exc: httpx.ConnectError) -> tuple[str, None, str, str, str]:
    from auditor.probes.sockets import classify_os_error

    text = str(exc)
    if "CERTIFICATE" in text.upper() or "SSL" in text.upper() or "TLS" in text.upper():
        return Outcome.TLS_ERROR, None, "", "", text[:300]
    # httpx wraps the socket error several times, through __cause__ and __context__
    inner: BaseException | None = exc
    for _ in range(10):
        if inner is None or getattr(inner, "errno", None) is not None:
            break
        inner = inner.__cause__ or inner.__context__
    outcome, detail = classify_os_error(inner if inner is not None else exc)
    if outcome == Outcome.ERROR:
        detail = text[:300] or detail
    return outcome, None, "", "", detail
