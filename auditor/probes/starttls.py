"""TLS over STARTTLS on port 25 of one MX address: the web TLS analysis, over SMTP.

The TLS probe (auditor/probes/tls.py, tls_depth.py) is run as it is for HTTPS; only its
connections differ: each one is opened by :class:`StarttlsDialer` (the seam
``auditor.probes.sockets.TLS_DIALER``), which reads the greeting, sends EHLO, checks the
STARTTLS keyword, sends STARTTLS and hands over the socket once the server answered 220
(RFC 3207 section 4). From there on the hello bytes are the same as on port 443.

Politeness (mail servers rate-limit and greylist, Internet.nl users' first complaint):

- one connection at a time per MX address (``ProbeContext.serialise``; the greeting probe
  of auditor/probes/smtp.py shares the same slot);
- the greeting probe's answer is reused: an address that did not offer STARTTLS, or did not
  greet, gets no TLS connection at all;
- a transient 4xx reply (421 at the greeting, 4xx to EHLO, 454 to STARTTLS; RFC 5321
  section 4.2.1, RFC 3207 section 4) stops the probe: no further connection to that
  address in this scan, and the checks say not_tested, "the server limited us", never fail.

Nothing is sent beyond EHLO, STARTTLS and, inside TLS, the probes' hellos: no mail.
"""

from __future__ import annotations

import base64

import anyio
from anyio.abc import ByteStream
from anyio.streams.buffered import BufferedByteReceiveStream

from auditor.obs.core import Outcome
from auditor.obs.zone import MxTls
from auditor.probes.context import ProbeContext
from auditor.probes.smtp import _ehlo_name, _read_reply, _SmtpError, probe_smtp
from auditor.probes.sockets import TLS_DIALER, RawSocketStream, connect_raw
from auditor.probes.tls import probe_tls

SMTP_PORT = 25  # RFC 5321 section 4.5.4.2 / RFC 7672 section 2.2: _25._tcp
LIMITED = "the server limited us"
MAX_CHAIN = 8  # certificates kept for DANE matching (the hello already caps the flight)


class ServerLimited(OSError):
    """A transient (4xx) SMTP reply: the server asked us to come back later."""


class StarttlsFailed(OSError):
    """The SMTP preamble did not reach the point where TLS starts."""


class StarttlsDialer:
    """Opens each TLS probe connection of one MX address: TCP, greeting, EHLO, STARTTLS.

    Raises OSError subclasses, so the TLS probes record a failed connection as they do for
    a refused TCP connect. After the first 4xx it connects no more (:attr:`limited`)."""

    def __init__(self, ctx: ProbeContext, mx: str) -> None:
        self.ctx = ctx
        self.mx = mx
        self.limited = ""
        self.connections = 0
        self.chain: tuple[bytes, ...] = ()

    def served_chain(self, ders: tuple[bytes, ...]) -> None:
        """The chain the TLS probe read (auditor.probes.sockets.note_served_chain)."""
        self.chain = ders

    async def __call__(self, address: str, port: int) -> ByteStream:
        if self.limited:
            raise ServerLimited(f"{LIMITED} earlier ({self.limited}): not connecting again")
        stream = await connect_raw(address, port)
        self.connections += 1
        try:
            await self._preamble(stream)
        except BaseException:
            if isinstance(stream, RawSocketStream):
                stream.close_now()
            else:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
            raise
        return stream

    def _transient(self, step: str, code: int, lines: list[str]) -> ServerLimited:
        text = (lines[0] if lines else "")[:120]
        self.limited = f"{step}: {code} {text}".strip()
        return ServerLimited(f"{LIMITED}: {self.limited}")

    async def _preamble(self, stream: ByteStream) -> None:
        # The caller's cancel scope bounds the whole preamble (the step timeout).
        timeout = self.ctx.options.timeout
        reader = BufferedByteReceiveStream(stream)
        try:
            code, lines = await _read_reply(reader, timeout * 2)  # greet pause: see smtp.py
            if 400 <= code < 500:
                raise self._transient("greeting", code, lines)
            if code != 220:
                raise StarttlsFailed(f"greeting {code} instead of 220")
            await stream.send(f"EHLO {_ehlo_name(stream)}\r\n".encode())
            code, lines = await _read_reply(reader, timeout)
            if 400 <= code < 500:
                raise self._transient("EHLO", code, lines)
            keywords = {ln.split(" ", 1)[0].upper() for ln in lines[1:]}
            if code != 250 or "STARTTLS" not in keywords:
                raise StarttlsFailed(f"EHLO {code} without STARTTLS")
            await stream.send(b"STARTTLS\r\n")
            code, lines = await _read_reply(reader, timeout)
            if 400 <= code < 500:  # RFC 3207 section 4: 454 TLS not available (temporary)
                raise self._transient("STARTTLS", code, lines)
            if code != 220:
                raise StarttlsFailed(f"STARTTLS answered {code} instead of 220")
        except _SmtpError as exc:
            raise StarttlsFailed(f"{exc.outcome}: {exc.detail}") from None
        if reader.buffer:
            # RFC 3207 section 4.1 (and CVE-2011-0411): nothing may come before the TLS
            # handshake; bytes after the 220 would be read as the ServerHello
            raise StarttlsFailed(f"{len(reader.buffer)} bytes after the STARTTLS reply")


async def probe_starttls(ctx: ProbeContext, mx: str, address: str) -> MxTls:
    """The TLS observation of port 25 of ``address`` (SNI ``mx``), once per scan."""

    async def run() -> MxTls:
        greeting = await probe_smtp(ctx, mx, address, SMTP_PORT)
        if not greeting.starttls:
            why = greeting.detail or (
                "no STARTTLS in the EHLO reply" if greeting.ehlo_ok else greeting.outcome
            )
            return MxTls(mx, address, Outcome.SKIPPED, detail=f"not probed: {why}")
        ctx.serialise(address)
        dialer = StarttlsDialer(ctx, mx)
        token = TLS_DIALER.set(dialer)
        try:
            tls = await probe_tls(ctx, mx, address, SMTP_PORT)
        finally:
            TLS_DIALER.reset(token)
        if dialer.limited:
            return MxTls(
                mx,
                address,
                "limited",
                tls,
                limited=dialer.limited,
                connections=dialer.connections,
                chain_der=tuple(base64.b64encode(d).decode() for d in dialer.chain[:MAX_CHAIN]),
                detail=f"{LIMITED} ({dialer.limited}); no further connection to {address}",
            )
        return MxTls(
            mx,
            address,
            tls.outcome,
            tls,
            connections=dialer.connections,
            chain_der=tuple(base64.b64encode(d).decode() for d in dialer.chain[:MAX_CHAIN]),
        )

    return await ctx.once(("starttls", address, mx), run)


__all__ = ["LIMITED", "MxTls", "StarttlsDialer", "probe_starttls"]
