"""DNS lookups through the configured resolver (dnspython, async).

Every lookup returns a :class:`DnsAnswer` whose ``outcome`` tells NXDOMAIN,
NODATA, SERVFAIL, REFUSED and timeout apart: they are different facts.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from dataclasses import dataclass, replace

import dns._asyncio_backend
import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset

from auditor.obs.core import DnsAnswer, HostDns, Outcome
from auditor.obs.zone import NsOutcome, NsQuery
from auditor.options import ScanOptions
from auditor.probes.sockets import classify_os_error
from auditor.protocol.addresses import endpoint
from auditor.protocol.names import public_suffix


def parse_resolver(spec: str) -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT``, ``[ADDR6]:PORT`` or a bare IPv6 address -> (addr, port)."""
    text = spec.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        host, port = text, 53
    ipaddress.ip_address(host)  # raises ValueError for a name: the resolver must be literal
    if not 0 < port < 65536:
        raise ValueError(f"bad port in resolver {spec!r}")
    return host, port


class _ConnectedUdpBackend(dns._asyncio_backend.Backend):
    """dnspython's asyncio backend with connected UDP sockets.

    On an unconnected socket the kernel cannot report the ICMP port unreachable that a
    resolver host sends back when nothing listens on its port: the query just times out,
    seconds later, as if the resolver were silent. A connected socket gets it as
    ECONNREFUSED at once, so a closed resolver port is told apart ("refused") from a silent
    one ("timeout"). Answers from another address than the one asked are dropped either way.
    """

    def datagram_connection_required(self) -> bool:
        return True


class DnsClient:
    """A thin wrapper over dnspython's async resolver that never raises for DNS failures."""

    def __init__(self, options: ScanOptions, stats: Counter[str]) -> None:
        self.options = options
        self.stats = stats
        if options.resolver:
            addr, port = parse_resolver(options.resolver)
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [addr]
            resolver.port = port
        else:
            resolver = dns.asyncresolver.Resolver(configure=True)
        # Ask for DNSSEC data and the AD bit so a validating resolver tells us "secure".
        resolver.use_edns(0, dns.flags.DO, 1232)
        resolver.flags = dns.flags.RD | dns.flags.AD
        resolver.timeout = options.timeout
        resolver.lifetime = options.timeout * 2
        resolver.cache = None  # the probe cache in ProbeContext already shares lookups
        self.resolver = resolver
        self.backend = _ConnectedUdpBackend()
        # suffix -> (does the resolver answer for it, monotonic time asked)
        self._health: dict[str, tuple[bool, float]] = {}

    async def query(self, qname: str, rdtype: str) -> DnsAnswer:
        self.stats["dns_queries"] += 1
        try:
            answer = await self.resolver.resolve(
                qname, rdtype, raise_on_no_answer=False, backend=self.backend
            )
        except dns.resolver.NXDOMAIN as exc:
            chain = _chain_from_nxdomain(exc, qname)
            return DnsAnswer(
                qname,
                rdtype,
                Outcome.NXDOMAIN,
                cname_chain=chain,
                detail="the name does not exist (NXDOMAIN)",
            )
        except dns.resolver.LifetimeTimeout:
            self.stats["dns_timeouts"] += 1  # the load monitor's share of timeouts
            return DnsAnswer(qname, rdtype, Outcome.TIMEOUT, detail="no answer from the resolver")
        except dns.resolver.NoNameservers as exc:
            outcome, detail = _classify_no_nameservers(exc)
            return DnsAnswer(qname, rdtype, outcome, detail=detail)
        except dns.resolver.YXDOMAIN:
            return DnsAnswer(qname, rdtype, Outcome.ERROR, detail="YXDOMAIN")
        except dns.exception.DNSException as exc:
            return DnsAnswer(qname, rdtype, Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}")
        except (OSError, ValueError) as exc:
            return DnsAnswer(qname, rdtype, Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}")
        response = answer.response
        chain = _cname_chain(response, qname)
        ad = bool(response.flags & dns.flags.AD)
        if answer.rrset is None:
            return DnsAnswer(
                qname,
                rdtype,
                Outcome.NODATA,
                cname_chain=chain,
                authenticated=ad,
                detail=f"no {rdtype} record",
            )
        records = tuple(sorted({rr.to_text() for rr in answer.rrset}))
        cap = self.options.max_dns_records
        detail = ""
        truncated = len(records) > cap
        if truncated:
            detail = f"{len(records)} records, kept the first {cap}"
            records = records[:cap]
        if rdtype in ("A", "AAAA"):
            records = tuple(_normalise_ip(r) for r in records)
        return DnsAnswer(
            qname,
            rdtype,
            Outcome.OK,
            records=records,
            cname_chain=chain,
            ttl=answer.rrset.ttl,
            authenticated=ad,
            detail=detail,
            truncated=truncated,
        )

    async def resolver_answers_near(self, name: str) -> bool:
        """Does the resolver answer for the public suffix of ``name`` *now*?

        Asked when a lookup timed out, to tell the name's servers (lame delegation) from the
        resolver. The answer is kept for about one step timeout only: an answer from minutes
        ago says nothing about a resolver that is overloaded (often by this very scan) now.
        """
        control = public_suffix(name) or "."
        now = time.monotonic()
        cached = self._health.get(control)
        if cached is None or now - cached[1] > self._health_ttl:
            answer = await self.query(control, "SOA")
            ok = answer.outcome in (Outcome.OK, Outcome.NODATA, Outcome.NXDOMAIN)
            cached = (ok, time.monotonic())
            self._health[control] = cached
        return cached[0]

    @property
    def _health_ttl(self) -> float:
        return min(5.0, self.options.timeout)

    def note_control(self, suffix: str, answered: bool) -> None:
        """The footing check asked this suffix's SOA just now (auditor.selfcheck)."""
        self._health[suffix] = (answered, time.monotonic())

    def servers(self) -> list[tuple[str, int]]:
        """The configured resolver addresses and ports."""
        return self._servers()

    def keep_servers(self, specs: list[str]) -> None:
        """Use only these of the configured servers (``ADDR:PORT`` / ``[ADDR6]:PORT``, as
        the footing check names them): one that did not answer its control question would
        cost every lookup a timeout before the next server is asked."""
        wanted = {s for s in specs}
        keep = [(a, p) for a, p in self._servers() if endpoint(a, p) in wanted]
        if keep and len(keep) < len(self._servers()):
            self.resolver.nameservers = [a for a, _ in keep]

    # -- raw messages (DNSSEC status needs flags and RRSIGs, not just the RRset) ----------
    def _servers(self) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for ns in self.resolver.nameservers:
            if isinstance(ns, str):
                out.append((ns, self.resolver.port))
            elif (addr := getattr(ns, "address", None)) is not None:
                out.append((str(addr), int(getattr(ns, "port", self.resolver.port))))
        return out

    async def message(self, qname: str, rdtype: str, *, cd: bool = False) -> RawAnswer:
        """One recursive query with DO (and CD when asked) through the configured resolver.

        UDP first; a truncated answer is retried over TCP (RFC 7766). Never raises.
        """
        try:
            query = dns.message.make_query(
                qname, rdtype, use_edns=0, want_dnssec=True, payload=1232
            )
        except (dns.exception.DNSException, ValueError) as exc:
            return RawAnswer(Outcome.ERROR, None, f"{type(exc).__name__}: {exc}")
        query.flags = dns.flags.RD | dns.flags.AD | (dns.flags.CD if cd else 0)
        last = RawAnswer(Outcome.ERROR, None, "no resolver configured")
        for addr, port in self._servers()[:3]:
            self.stats["dns_queries"] += 1
            try:
                response, _tcp = await dns.asyncquery.udp_with_fallback(
                    query, addr, timeout=self.options.timeout, port=port, backend=self.backend
                )
            except dns.exception.Timeout:
                self.stats["dns_timeouts"] += 1
                last = RawAnswer(Outcome.TIMEOUT, None, "no answer from the resolver")
                continue
            except ConnectionRefusedError:
                last = RawAnswer(Outcome.REFUSED, None, _CLOSED_PORT)
                continue
            except (dns.exception.DNSException, OSError, ValueError, EOFError) as exc:
                last = RawAnswer(Outcome.ERROR, None, f"{type(exc).__name__}: {exc}")
                continue
            return RawAnswer(_rcode_outcome(response, qname, rdtype), response)
        return last


@dataclass(frozen=True)
class RawAnswer:
    """A resolver response with its flags (internal to the probes, not stored)."""

    outcome: str  # Outcome.OK / NODATA / NXDOMAIN / SERVFAIL / DNS_REFUSED / TIMEOUT / ERROR
    message: dns.message.Message | None
    detail: str = ""

    @property
    def ad(self) -> bool:
        return self.message is not None and bool(self.message.flags & dns.flags.AD)

    def rrset(self, rdtype: str) -> dns.rrset.RRset | None:
        """The final RRset of ``rdtype`` in the answer section (after any CNAMEs)."""
        if self.message is None:
            return None
        want = dns.rdatatype.from_text(rdtype)
        for rrset in self.message.answer:
            if rrset.rdtype == want:
                return rrset
        return None

    def rrsigs(self) -> list[dns.rrset.RRset]:
        if self.message is None:
            return []
        return [r for r in self.message.answer if r.rdtype == dns.rdatatype.RRSIG]


def _rcode_outcome(response: dns.message.Message, qname: str, rdtype: str) -> str:
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return Outcome.NXDOMAIN
    if rcode == dns.rcode.SERVFAIL:
        return Outcome.SERVFAIL
    if rcode == dns.rcode.REFUSED:
        return Outcome.DNS_REFUSED
    if rcode != dns.rcode.NOERROR:
        return Outcome.ERROR
    want = dns.rdatatype.from_text(rdtype)
    if any(r.rdtype == want for r in response.answer):
        return Outcome.OK
    return Outcome.NODATA


async def query_authoritative(
    guard_refusal: str | None,
    ns: str,
    address: str,
    zone: str,
    transport: str,
    *,
    timeout: float,
    port: int = 53,
) -> NsQuery:
    """Ask one authoritative address for the zone's SOA, RD clear, over UDP or TCP.

    The caller holds the per-address slot and has asked the address guard
    (``guard_refusal`` is its answer: a refused address is never queried).
    """
    if guard_refusal:
        return NsQuery(ns, address, transport, Outcome.BLOCKED, detail=guard_refusal)
    query = dns.message.make_query(zone, "SOA", use_edns=0, payload=1232)
    query.flags = 0  # RD clear: an authoritative server must answer from its own data
    start = time.perf_counter()
    try:
        if transport == "tcp":
            response = await dns.asyncquery.tcp(query, address, timeout=timeout, port=port)
        else:
            response = await dns.asyncquery.udp(query, address, timeout=timeout, port=port)
    except dns.exception.Timeout:
        return NsQuery(
            ns, address, transport, Outcome.TIMEOUT, detail="no answer before the timeout"
        )
    except OSError as exc:
        outcome, detail = classify_os_error(exc)
        return NsQuery(ns, address, transport, outcome, detail=detail)
    except (dns.exception.DNSException, ValueError, EOFError) as exc:
        outcome = Outcome.RESET if isinstance(exc, EOFError) else Outcome.PROTOCOL_ERROR
        return NsQuery(ns, address, transport, outcome, detail=f"{type(exc).__name__}: {exc}")
    rtt = round((time.perf_counter() - start) * 1000, 2)
    rcode = dns.rcode.to_text(response.rcode())
    aa = bool(response.flags & dns.flags.AA)

    def seen(outcome: str, detail: str = "") -> NsQuery:
        return NsQuery(ns, address, transport, outcome, rcode, aa, rtt, detail)

    if transport == "udp" and response.flags & dns.flags.TC:
        # RFC 7766: a truncated UDP answer means "ask over TCP" (the TCP query decides); it is
        # not a lame delegation
        return seen(NsOutcome.ANSWERED, "truncated answer (TC): the full answer needs TCP")
    if response.rcode() == dns.rcode.REFUSED:
        return seen(Outcome.DNS_REFUSED, "the server refused the query (not serving the zone?)")
    if response.rcode() == dns.rcode.SERVFAIL:
        return seen(Outcome.SERVFAIL, "the server answered SERVFAIL")
    if response.rcode() != dns.rcode.NOERROR:
        return seen(Outcome.ERROR, f"rcode {rcode}")
    zname = dns.name.from_text(zone)
    has_soa = any(r.rdtype == dns.rdatatype.SOA and r.name == zname for r in response.answer)
    if aa and has_soa:
        return seen(NsOutcome.ANSWERED)
    why = "no AA bit" if not aa else "no SOA for the zone in the answer"
    return seen(
        NsOutcome.NOT_AUTHORITATIVE, f"answered but not authoritatively ({why}): lame delegation"
    )


def _normalise_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def _cname_chain(response: dns.message.Message, qname: str) -> tuple[str, ...]:
    """Targets of the CNAMEs followed from qname, in order."""
    targets: dict[str, str] = {}
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.CNAME:
            targets[rrset.name.to_text().lower()] = rrset[0].target.to_text().lower()
    chain: list[str] = []
    current = dns.name.from_text(qname).to_text().lower()
    while current in targets and len(chain) < 16:  # RFC 1034 loops are possible: bound it
        current = targets[current]
        if current in chain:
            break
        chain.append(current)
    return tuple(c.rstrip(".") for c in chain)


def _chain_from_nxdomain(exc: dns.resolver.NXDOMAIN, qname: str) -> tuple[str, ...]:
    try:
        responses = exc.responses()  # type: ignore[no-untyped-call]
    except Exception:
        return ()
    for response in responses.values():
        return _cname_chain(response, qname)
    return ()


_CLOSED_PORT = "the resolver's port is closed (ICMP port unreachable): nothing listens there"


def _classify_no_nameservers(exc: dns.resolver.NoNameservers) -> tuple[str, str]:
    errors = exc.kwargs.get("errors", []) if hasattr(exc, "kwargs") else []
    # A broken server, not a SERVFAIL: tell the hostile cases apart (robustness lab).
    causes = [error[3] for error in errors if len(error) > 3]
    if causes and all(isinstance(c, ConnectionRefusedError) for c in causes):
        # every server's port is closed (ICMP port unreachable on the connected socket):
        # "refused", not a timeout and not a broken answer
        return Outcome.REFUSED, _CLOSED_PORT
    if any(isinstance(c, dns.message.ChainTooLong) for c in causes):
        return Outcome.ERROR, "CNAME loop or chain too long in the answer"
    if any(isinstance(c, EOFError | ConnectionError) for c in causes):
        how = "connection reset" if any(isinstance(c, ConnectionError) for c in causes) else "EOF"
        tcp = any(len(e) > 1 and e[1] for e in errors)
        what = "truncated UDP answer; the TCP retry failed" if tcp else "the connection failed"
        return Outcome.ERROR, f"{what} ({how})"
    for error in errors:
        answer = error[4] if len(error) > 4 else None
        if isinstance(answer, dns.message.Message):
            rcode = answer.rcode()
            if rcode == dns.rcode.REFUSED:
                return Outcome.DNS_REFUSED, "the resolver refused the query (REFUSED)"
            if rcode == dns.rcode.SERVFAIL:
                return Outcome.SERVFAIL, "the resolver answered SERVFAIL"
    return Outcome.SERVFAIL, f"no server could answer: {exc}"


async def resolve_host(client: DnsClient, name: str) -> HostDns:
    """A and AAAA of a host, in parallel.

    When a lookup times out, the resolver is asked a control question (the SOA of the
    name's public suffix): if it answers that, the timeout is the name's fault (its
    authoritative servers do not respond) and ``resolver_ok`` says so.
    """
    import anyio

    results: dict[str, DnsAnswer] = {}

    async def one(rdtype: str) -> None:
        answer = await client.query(name, rdtype)
        if answer.outcome == Outcome.TIMEOUT:
            # ask once more: a recursive resolver often finishes in the background and
            # has the answer (or its SERVFAIL) cached by now
            answer = await client.query(name, rdtype)
        results[rdtype] = answer

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "A")
        tg.start_soon(one, "AAAA")
    a, aaaa = results["A"], results["AAAA"]
    if Outcome.TIMEOUT in (a.outcome, aaaa.outcome):
        ok = await client.resolver_answers_near(name)
        if a.outcome == Outcome.TIMEOUT:
            a = replace(a, resolver_ok=ok)
        if aaaa.outcome == Outcome.TIMEOUT:
            aaaa = replace(aaaa, resolver_ok=ok)
    return HostDns(name=name, a=a, aaaa=aaaa)
