"""Network namespaces for the lab: a server namespace (every service address on its `lo`)
and a client namespace, joined by a veth pair. The client routes only the documentation
prefixes, via the veth; it has no default route, so nothing can leak out of the lab."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

from .scenarios import (
    ALLOW_NETS,
    CLI2_V4,
    LINK2_V6_CLI,
    LINK2_V6_SRV,
    LINK_V4_CLI,
    LINK_V4_SRV,
    LINK_V6_CLI,
    LINK_V6_SRV,
    RESOLVER_V4,
    V4ONLY_CLI,
)


def run(args: list[str], check: bool = True, input: str | None = None) -> str:
    r = subprocess.run(args, capture_output=True, text=True, input=input, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def netns_list() -> list[str]:
    out = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in out.split() if x.isdigit()]


class Netns:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.srv = f"auditor-lab-{tag}-srv"
        self.cli = f"auditor-lab-{tag}-cli"
        # interface names are limited to 15 characters
        self.veth_srv = f"al{tag}s"[:15]
        self.veth_cli = f"al{tag}c"[:15]
        self.etc_dir = Path("/etc/netns") / self.cli
        # A second client without IPv6 (created on demand: v4_client_create): no IPv6
        # address but link-local, no IPv6 route, the lab resolver over IPv4 only.
        self.cli4 = f"auditor-lab-{tag}-c4"
        self.veth4_srv = f"al{tag}4s"[:15]
        self.veth4_cli = f"al{tag}4c"[:15]
        self.etc4_dir = Path("/etc/netns") / self.cli4
        # A second dual-stack client (created on demand: client2_create), a second vantage
        # point: the same routes as the first over a link of its own, so a packet filter in
        # it changes what it sees and nothing else.
        self.cli2 = f"auditor-lab-{tag}-c2"
        self.veth2_srv = f"al{tag}2s"[:15]
        self.veth2_cli = f"al{tag}2c"[:15]
        self.etc2_dir = Path("/etc/netns") / self.cli2

    def create(self, service_addrs: list[str], resolvers: list[str]) -> None:
        run(["ip", "netns", "add", self.srv])
        run(["ip", "netns", "add", self.cli])
        batch_srv = [
            "link set lo up",
            f"link add {self.veth_srv} type veth peer name {self.veth_cli} netns {self.cli}",
            f"addr add {LINK_V6_SRV}/64 dev {self.veth_srv} nodad",
            f"addr add {LINK_V4_SRV}/24 dev {self.veth_srv}",
            f"link set {self.veth_srv} up",
        ]
        for a in service_addrs:
            ip = ipaddress.ip_address(a)
            plen = 128 if ip.version == 6 else 32
            batch_srv.append(f"addr add {a}/{plen} dev lo")
        run(["ip", "-n", self.srv, "-batch", "-"], input="\n".join(batch_srv) + "\n")
        batch_cli = [
            "link set lo up",
            f"addr add {LINK_V6_CLI}/64 dev {self.veth_cli} nodad",
            f"addr add {LINK_V4_CLI}/24 dev {self.veth_cli}",
            f"link set {self.veth_cli} up",
        ]
        for net in ALLOW_NETS:
            n = ipaddress.ip_network(net)
            if n.version == 6:
                batch_cli.append(f"route add {net} via {LINK_V6_SRV} dev {self.veth_cli}")
            elif not n.overlaps(ipaddress.ip_network(f"{LINK_V4_CLI}/24", strict=False)):
                batch_cli.append(f"route add {net} via {LINK_V4_SRV} dev {self.veth_cli}")
        run(["ip", "-n", self.cli, "-batch", "-"], input="\n".join(batch_cli) + "\n")
        # `ip netns exec` bind-mounts this over /etc/resolv.conf: the lab resolver becomes the
        # client namespace's system resolver.
        self.etc_dir.mkdir(parents=True, exist_ok=True)
        (self.etc_dir / "resolv.conf").write_text(
            "".join(f"nameserver {r}\n" for r in resolvers) + "options edns0 trust-ad\n"
        )

    def v4_client_create(self) -> None:
        """The IPv4-only client namespace, joined to the server namespace by its own veth.

        Its address is V4ONLY_CLI (a /32 inside the main link's /24, routed to this veth by
        a host route in the server namespace); the documentation /24s are routed on-link
        (the server namespace answers ARP for its `lo` addresses), and IPv6 has no address
        but the veth's link-local one and no route at all."""
        run(["ip", "netns", "add", self.cli4])
        run(
            ["ip", "-n", self.srv, "-batch", "-"],
            input="\n".join(
                [
                    f"link add {self.veth4_srv} type veth peer name {self.veth4_cli} "
                    f"netns {self.cli4}",
                    f"link set {self.veth4_srv} up",
                    f"route add {V4ONLY_CLI}/32 dev {self.veth4_srv}",
                ]
            )
            + "\n",
        )
        batch = [
            "link set lo up",
            f"addr add {V4ONLY_CLI}/32 dev {self.veth4_cli}",
            f"link set {self.veth4_cli} up",
        ]
        for net in ALLOW_NETS:
            if ipaddress.ip_network(net).version == 4:
                batch.append(f"route add {net} dev {self.veth4_cli}")
        run(["ip", "-n", self.cli4, "-batch", "-"], input="\n".join(batch) + "\n")
        # nothing may route IPv6: the kernel's own link-local route is all there is
        run(["ip", "-n", self.cli4, "-6", "route", "flush", "table", "main"], check=False)
        self.etc4_dir.mkdir(parents=True, exist_ok=True)
        (self.etc4_dir / "resolv.conf").write_text(f"nameserver {RESOLVER_V4}\n")

    def v4_client_delete(self) -> None:
        if self.cli4 in netns_list():
            run(["ip", "netns", "del", self.cli4], check=False)
        if self.etc4_dir.exists():
            shutil.rmtree(self.etc4_dir, ignore_errors=True)

    def client2_create(self, resolvers: list[str]) -> None:
        """The second dual-stack client namespace: IPv6 on a /64 link of its own (routed to
        the documentation prefixes via the server's end), IPv4 as CLI2_V4/32 with a host
        route back in the server namespace (like the IPv4-only client)."""
        run(["ip", "netns", "add", self.cli2])
        run(
            ["ip", "-n", self.srv, "-batch", "-"],
            input="\n".join(
                [
                    f"link add {self.veth2_srv} type veth peer name {self.veth2_cli} "
                    f"netns {self.cli2}",
                    f"addr add {LINK2_V6_SRV}/64 dev {self.veth2_srv} nodad",
                    f"link set {self.veth2_srv} up",
                    f"route add {CLI2_V4}/32 dev {self.veth2_srv}",
                ]
            )
            + "\n",
        )
        batch = [
            "link set lo up",
            f"addr add {LINK2_V6_CLI}/64 dev {self.veth2_cli} nodad",
            f"addr add {CLI2_V4}/32 dev {self.veth2_cli}",
            f"link set {self.veth2_cli} up",
        ]
        for net in ALLOW_NETS:
            if ipaddress.ip_network(net).version == 6:
                batch.append(f"route add {net} via {LINK2_V6_SRV} dev {self.veth2_cli}")
            else:
                batch.append(f"route add {net} dev {self.veth2_cli}")
        run(["ip", "-n", self.cli2, "-batch", "-"], input="\n".join(batch) + "\n")
        self.etc2_dir.mkdir(parents=True, exist_ok=True)
        (self.etc2_dir / "resolv.conf").write_text(
            "".join(f"nameserver {r}\n" for r in resolvers) + "options edns0 trust-ad\n"
        )

    def client2_delete(self) -> None:
        if self.cli2 in netns_list():
            run(["ip", "netns", "del", self.cli2], check=False)
        if self.etc2_dir.exists():
            shutil.rmtree(self.etc2_dir, ignore_errors=True)

    def exec_cli2(self, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.cli2, *args]

    def nft_cli2(self, ruleset: str) -> None:
        run(["ip", "netns", "exec", self.cli2, "nft", "-f", "-"], input=ruleset)

    def exec_cli4(self, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.cli4, *args]

    def nft(self, ruleset: str) -> None:
        run(["ip", "netns", "exec", self.srv, "nft", "-f", "-"], input=ruleset)

    def exec_srv(self, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.srv, *args]

    def exec_cli(self, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.cli, *args]

    def exists(self) -> bool:
        names = netns_list()
        return any(n in names for n in (self.srv, self.cli, self.cli4, self.cli2))

    def delete(self) -> None:
        self.v4_client_delete()
        self.client2_delete()
        names = netns_list()
        for ns in (self.cli, self.srv):
            if ns in names:
                run(["ip", "netns", "del", ns], check=False)
        if self.etc_dir.exists():
            shutil.rmtree(self.etc_dir, ignore_errors=True)
