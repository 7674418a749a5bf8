"""Use the lab by hand.

python -m tests.lab up [--tag main]      bring it up (prints addresses, inventory, CA)
python -m tests.lab status [--tag main]  what is running
python -m tests.lab shell [--tag main]   a shell in the client namespace
python -m tests.lab scan [--tag main] [-- extra auditor args]
python -m tests.lab shell [--tag main] [-- command args]
python -m tests.lab down [--tag main]    stop everything, delete the namespaces
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from .lab import Lab, LabError, _alive, missing_prerequisites
from .netns import Netns, netns_list


def _dir(args: argparse.Namespace) -> Path:
    return Path(args.dir or f"/tmp/auditor-lab-{args.tag}")


def _state(args: argparse.Namespace) -> dict[str, object]:
    f = _dir(args) / "state.json"
    if not f.exists():
        raise SystemExit(f"no lab '{args.tag}' is up (no {f})")
    data: dict[str, object] = json.loads(f.read_text())
    return data


def _fmt_expect(w: object) -> str:
    if isinstance(w, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in w.items()) + "}"
    if isinstance(w, tuple):
        return "/".join(w)
    return str(w)


def markdown_table() -> str:
    """The scenario table and address allocation, for README.md."""
    from .scenarios import HOST_CHECKS, SCENARIOS, ZONE_CHECKS

    lines = ["| scenario | target | set-up | expected verdicts |", "|---|---|---|---|"]
    for s in SCENARIOS:
        for target, exp in s.expected.items():
            full = set(exp) >= set(HOST_CHECKS) or set(exp) >= set(ZONE_CHECKS)
            if full and set(exp.values()) == {"pass"}:
                parts = ["every check `pass`"]
            elif full:
                # every check listed: the odd ones out, then what all the others say
                common = max(set(map(str, exp.values())), key=list(map(str, exp.values())).count)
                ev = s.evidence.get(target, {})
                parts = [
                    f"`{c}` {_fmt_expect(w)}"
                    + (f" (mentions {' or '.join(ev[c])})" if c in ev else "")
                    for c, w in exp.items()
                    if str(w) != common
                ] + [f"every other check `{common}`"]
            else:
                ev = s.evidence.get(target, {})
                parts = [
                    f"`{c}` {_fmt_expect(w)}"
                    + (f" (mentions {' or '.join(ev[c])})" if c in ev else "")
                    for c, w in exp.items()
                ]
            desc = s.description.replace("|", "/")
            lines.append(f"| {s.name} | {target} | {desc} | {'; '.join(parts)} |")
    lab = Lab("doc")
    lines += ["", "| host | IPv4 | IPv6 | notes |", "|---|---|---|---|"]
    for name, p in lab.place().items():
        h = p.host
        note = (
            f"CNAME {h.cname}" if h.cname
            else f"shares {h.share_with} (SNI)" if h.share_with
            else f"SMTP ({h.smtp})" if h.smtp
            else "nothing listens" if h.dns_only
            else ""
        )  # fmt: skip
        lines.append(f"| {name} | {p.v4 or '-'} | {p.v6 or '-'} | {note} |")
    return "\n".join(lines)


def update_readme() -> None:
    readme = Path(__file__).parent / "README.md"
    text = readme.read_text()
    start = text.index("### Scenarios")
    end = text.index("\nSupport hosts that are not inventory targets")
    scn, hosts = markdown_table().split("\n\n", 1)
    new = (
        "### Scenarios\n\n(`python -m tests.lab table -- --write` regenerates both tables.)\n\n"
        + scn.strip()
        + "\n\n### Host addresses (as allocated)\n\n"
        + hosts.strip()
        + "\n"
    )
    readme.write_text(text[:start] + new + text[end:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.lab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("command", choices=["up", "down", "status", "shell", "scan", "check", "table"])
    ap.add_argument("--tag", default="main", help="lab name (namespaces auditor-lab-TAG-*)")
    ap.add_argument("--dir", help="state directory (default /tmp/auditor-lab-TAG)")
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:  # everything after -- goes to the auditor (scan) or is the command (shell)
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1 :]
    args = ap.parse_args(argv)

    if args.command == "table":
        if "--write" in rest:
            update_readme()
        else:
            print(markdown_table())
        return 0

    if args.command == "check":
        why = missing_prerequisites()
        print("ok" if not why else "cannot run the lab: " + "; ".join(why))
        return 1 if why else 0

    if args.command == "up":
        lab = Lab(args.tag, Path(args.dir) if args.dir else None)
        if lab.netns.exists() and "--force" not in rest:
            print(
                f"lab '{args.tag}' is already up (namespaces exist): `python -m tests.lab down "
                f"--tag {args.tag}` first, or `up --tag {args.tag} -- --force` to rebuild it",
                file=sys.stderr,
            )
            return 1
        try:
            lab.up()
        except LabError as e:
            print(f"lab failed to start: {e}", file=sys.stderr)
            return 1
        lab._atexit = False  # keep it running after this process exits
        import atexit

        atexit.unregister(lab._atexit_down)
        phases = ", ".join(f"{k} {v:.1f}" for k, v in lab.timings.items())
        print(f"lab '{lab.tag}' up in {lab.started_in:.1f} s ({phases})")
        print(f"  state dir     {lab.dir}")
        print(f"  client netns  {lab.client_ns}   (ip netns exec {lab.client_ns} bash)")
        print(f"  server netns  {lab.server_ns}")
        print(f"  resolver      {' '.join(lab.resolvers)}   (client /etc/resolv.conf)")
        print(f"  inventory     {lab.inventory}")
        print(f"  CA file       {lab.ca_file}")
        print(f"  daemons       {lab.pids}")
        print("  scan by hand:")
        print("    " + shlex.join(lab.client_cmd(lab.scan_args(lab.dir / "scan"))))
        return 0

    if args.command == "down":
        d = _dir(args)
        if not (d / "state.json").exists() and not Netns(args.tag).exists():
            print(f"lab '{args.tag}': nothing to do")
            return 0
        Lab.down_from_state(d, args.tag)
        left = [n for n in netns_list() if n.startswith(f"auditor-lab-{args.tag}-")]
        print(f"lab '{args.tag}' down" + (f"; LEFT: {left}" if left else ", nothing left"))
        return 1 if left else 0

    st = _state(args)
    if args.command == "status":
        pids = st.get("pids", {})
        assert isinstance(pids, dict)
        for name, pid in pids.items():
            print(f"{name:8} pid {pid:7} {'running' if _alive(int(pid)) else 'DEAD'}")
        names = netns_list()
        for key in ("server_ns", "client_ns"):
            print(f"{key:10} {st[key]} {'present' if st[key] in names else 'MISSING'}")
        return 0
    if args.command == "shell":
        cmd = rest or [os.environ.get("SHELL", "/bin/bash")]
        return subprocess.call(["ip", "netns", "exec", str(st["client_ns"]), *cmd])
    if args.command == "scan":
        lab = Lab(args.tag, _dir(args))
        out = lab.dir / "scan"
        out.mkdir(exist_ok=True)
        r = subprocess.run(lab.client_cmd(lab.scan_args(out, *rest)), cwd=Path.cwd(),
                           env=lab.auditor_env(), check=False)  # fmt: skip
        print(f"scan exit {r.returncode}; JSON {out / 'scan.json'}, HTML {out / 'html'}")
        return r.returncode
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `python -m tests.lab up | head`: the lab is up all the same
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
