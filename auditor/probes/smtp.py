"""SMTP greeting and STARTTLS offer on port 25 of one MX address.

Anti-spam gateways punish parallel or repeated connections, so an MX is talked to one
connection at a time (a lock per MX name shared through the probe cache) and each
address once per scan. Nothing is sent beyond EHLO and QUIT: no mail transaction.
Every read has a timeout and a size cap; the banner is untrusted text.
"""

from __future__ import annotations

import time

import anyio
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream

from auditor.obs.core import Outcome
from auditor.obs.zone import SmtpProbe
from auditor.probes.context import ProbeContext
from auditor.probes.sockets import classify_os_error
from auditor.protocol.names import norm_name

MAX_LINE = 2048  # RFC 5321 section 4.5.3.1.5: reply lines are at most 512 octets; be lenient
MAX_LINES = 100
BANNER_CAP = 200


class _SmtpError(Exception):
    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


async def mx_lock(ctx: ProbeContext, mx: str) -> anyio.Lock:
    """The lock serialising connections to one MX, shared scan-wide."""

    async def make() -> anyio.Lock:
        return anyio.Lock()

    return await ctx.once(("smtp-lock", norm_name(mx)), make)


async def probe_smtp(ctx: ProbeContext, mx: str, address: str, port: int = 25) -> SmtpProbe:
    """Greeting + EHLO on one MX address, once per scan, one connection at a time per MX."""

    async def run() -> SmtpProbe:
        ctx.serialise(address)  # one connection at a time per MX address, also for TLS
        lock = await mx_lock(ctx, mx)
        result = SmtpProbe(mx, address, Outcome.SKIPPED)
        for _attempt in range(2):
            async with lock:
                result = await _probe(ctx, mx, address, port)
            # one retry when nothing came back at all (lost SYN, busy gateway); a refusal
            # or any SMTP reply is final
            if result.outcome != Outcome.TIMEOUT or result.greeting_code is not None:
                break
        return result

    return await ctx.once(("smtp", address, port), run)


async def _read_reply(reader: BufferedByteReceiveStream, timeout: float) -> tuple[int, list[str]]:
    """One (possibly multi-line) reply: ``250-...`` lines continue, ``250 ...`` ends it."""
    lines: list[str] = []
    code: int | None = None
    with anyio.fail_after(timeout):
        while len(lines) < MAX_LINES:
            try:
                raw = await reader.receive_until(b"\n", MAX_LINE)
            except anyio.DelimiterNotFound:
                raise _SmtpError(
                    Outcome.TOO_LARGE, f"reply line longer than {MAX_LINE} bytes"
                ) from None
            except (anyio.IncompleteRead, anyio.EndOfStream):
                raise _SmtpError(Outcome.RESET, "the server closed the connection") from None
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            head = line[:3]
            if len(line) < 3 or not head.isdigit():
                raise _SmtpError(Outcome.PROTOCOL_ERROR, f"not an SMTP reply: {line[:80]!r}")
            if code is not None and int(head) != code:
                raise _SmtpError(Outcome.PROTOCOL_ERROR, "reply code changed mid-reply")
            code = int(head)
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return code, lines
            if line[3] != "-":
                raise _SmtpError(Outcome.PROTOCOL_ERROR, f"bad reply separator: {line[:80]!r}")
    raise _SmtpError(Outcome.TOO_LARGE, f"reply longer than {MAX_LINES} lines")


def _ehlo_name(stream: ByteStream) -> str:
    """Our own address as an address literal (RFC 5321 section 4.1.3): we have no FQDN."""
    try:
        local = stream.extra(SocketAttribute.local_address)
    except Exception:
        return "[127.0.0.1]"
    ip = str(local[0]) if isinstance(local, tuple) else str(local)
    ip = ip.split("%", 1)[0]
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


async def _probe(ctx: ProbeContext, mx: str, address: str, port: int) -> SmtpProbe:
    refusal = ctx.guard.refusal(address)
    if refusal:
        return SmtpProbe(mx, address, Outcome.BLOCKED, detail=refusal)
    unreachable = ctx.unreachable_family(address)
    if unreachable:
        return SmtpProbe(mx, address, Outcome.SKIPPED, detail=unreachable)
    timeout = ctx.options.timeout
    async with ctx.address_slot(address):
        ctx.stats["connections"] += 1
        start = time.perf_counter()
        try:
            with anyio.fail_after(timeout):
                # a mapped SMTP port (ScanOptions.port_map 25:PORT) is connected instead
                stream = await anyio.connect_tcp(address, ctx.options.wire_port(mx, port))
        except TimeoutError:
            return SmtpProbe(mx, address, Outcome.TIMEOUT, detail="no answer before the timeout")
        except OSError as exc:
            outcome, detail = classify_os_error(exc)
            return SmtpProbe(mx, address, outcome, detail=detail)
        rtt = round((time.perf_counter() - start) * 1000, 2)
        code: int | None = None
        banner = ""
        ehlo_ok: bool | None = None
        starttls: bool | None = None
        try:
            async with stream:
                reader = BufferedByteReceiveStream(stream)
                # RFC 5321 section 4.5.3.2.1 lets servers delay the greeting (up to 5 min);
                # gateways with "greet pause" wait a few seconds: allow twice the step timeout.
                code, lines = await _read_reply(reader, timeout * 2)
                banner = lines[0][:BANNER_CAP] if lines else ""
                if code != 220:
                    return SmtpProbe(
                        mx,
                        address,
                        Outcome.PROTOCOL_ERROR,
                        code,
                        banner,
                        rtt_ms=rtt,
                        detail=f"greeting {code} instead of 220",
                    )
                with anyio.fail_after(timeout):
                    await stream.send(f"EHLO {_ehlo_name(stream)}\r\n".encode())
                ecode, elines = await _read_reply(reader, timeout)
                ehlo_ok = ecode == 250
                keywords = {ln.split(" ", 1)[0].upper() for ln in elines[1:]}
                starttls = ehlo_ok and "STARTTLS" in keywords
                try:
                    with anyio.fail_after(timeout):
                        await stream.send(b"QUIT\r\n")
                        await _read_reply(reader, timeout)
                except (TimeoutError, _SmtpError, OSError, anyio.BrokenResourceError):
                    pass  # QUIT is a courtesy
        except _SmtpError as exc:
            return SmtpProbe(
                mx, address, exc.outcome, code, banner, ehlo_ok, starttls, rtt, exc.detail
            )
        except TimeoutError:
            what = "greeting" if code is None else "EHLO reply"
            return SmtpProbe(
                mx,
                address,
                Outcome.TIMEOUT if code is None else Outcome.OK,
                code,
                banner,
                ehlo_ok,
                starttls,
                rtt,
                f"no {what} before the timeout",
            )
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            outcome, detail = classify_os_error(exc)
            if code == 220:
                outcome = Outcome.OK
            return SmtpProbe(mx, address, outcome, code, banner, ehlo_ok, starttls, rtt, detail)
    return SmtpProbe(mx, address, Outcome.OK, code, banner, ehlo_ok, starttls, rtt)
