"""The schedule file (auditor.schedules): what it accepts, every error with its file, line
and field, and the cron times in Asia/Ho_Chi_Minh (UTC+7, no daylight saving time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from auditor.schedules import (
    DEFAULT_TIMEZONE,
    ScheduleError,
    ScheduleSpec,
    check_schedules,
    cron_problem,
    load_schedules,
    missed_run,
    scan_options,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
INVENTORY = Path(__file__).resolve().parents[2] / "inventories" / "example.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "inv.yaml").write_text(INVENTORY.read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / "schedules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _errors(tmp_path: Path, text: str) -> list[tuple[int, str, str]]:
    found, errors = check_schedules(_write(tmp_path, text))
    assert found is None and errors
    for e in errors:
        assert str(e) == f"{e.file}:{e.line}: {e.field}: {e.message}"
        assert e.file.endswith("schedules.yaml")
    return [(e.line, e.field, e.message) for e in errors]


GOOD = """\
version: 1
schedules:
  - name: weekly
    inventory: inv.yaml
    cron: "0 2 * * 1"
  - name: after-hours.v6
    inventory: inv.yaml
    profile: vn-gov
    cron: "30 22 * * 1-5"
    timezone: UTC
    vantages: [hanoi, hcm]
    workers: 3
    options:
      timeout: 4
      concurrency: 16
      allow_private: true
      allow_net: [127.0.0.0/8, "::1/128"]
      port_map: ["443:8443", "80:8080"]
      resolver: 127.0.0.1:5353
    alerts:
      smtp: smtp://127.0.0.1:2525
      to: [soc@example.gov.vn]
"""


def test_a_good_file_loads_with_defaults_and_paths_relative_to_it(tmp_path: Path) -> None:
    found = load_schedules(_write(tmp_path, GOOD))
    weekly, evening = found.schedules
    assert weekly.name == "weekly" and weekly.inventory == str((tmp_path / "inv.yaml").resolve())
    assert weekly.timezone == DEFAULT_TIMEZONE == "Asia/Ho_Chi_Minh"
    assert weekly.profile is None and weekly.vantages == ("local",) and weekly.workers == 1
    assert weekly.alerts is None and weekly.scan_args == () and weekly.line == 3
    assert evening.vantages == ("hanoi", "hcm") and evening.workers == 3
    assert evening.alerts == {"smtp": "smtp://127.0.0.1:2525", "to": ["soc@example.gov.vn"]}
    assert evening.alerts_where.endswith("schedules.yaml:20: schedules[1].alerts")
    options = scan_options(evening, ports=(443,))
    assert options.timeout == 4 and options.concurrency == 16 and options.allow_private
    assert options.allow_nets == ("127.0.0.0/8", "::1/128")
    assert options.port_map == {"*": {443: 8443, 80: 8080}}
    assert options.resolver == "127.0.0.1:5353" and options.ports == (443,)
    assert found.by_name("weekly") is weekly and found.by_name("nope") is None


@pytest.mark.parametrize(
    ("text", "line", "field", "says"),
    [
        ("", 1, "document", "empty schedule file"),
        ("schedules: [\n", 2, "document", "YAML syntax error"),
        ("version: 2\nschedules: []\n", 1, "version", "unsupported version"),
        ("schedules: []\n", 1, "schedules", "no schedules"),
        ("schedules: {}\n", 1, "schedules", "expected a list of schedules"),
        ("when: x\nschedules: []\n", 1, "when", "unknown key 'when'"),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n",
            2,
            "schedules[0].cron",
            "missing required key 'cron'",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '0 2 * *'\n",
            4,
            "schedules[0].cron",
            "expected five fields",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '0 2 * * * 5'\n",
            4,
            "schedules[0].cron",
            "got 6",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '61 2 * * *'\n",
            4,
            "schedules[0].cron",
            "not a valid cron expression",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '@reboot'\n",
            4,
            "schedules[0].cron",
            "unknown cron nickname",
        ),
        (
            "schedules:\n  - name: a\n    inventory: nope.yaml\n    cron: '@weekly'\n",
            3,
            "schedules[0].inventory",
            "no such inventory file",
        ),
        (
            "schedules:\n  - name: a b\n    inventory: inv.yaml\n    cron: '@weekly'\n",
            2,
            "schedules[0].name",
            "a schedule name is",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
            "    timezone: Asia/Hanoi_City\n",
            5,
            "schedules[0].timezone",
            "unknown time zone",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
            "    profile: no-such-profile\n",
            5,
            "schedules[0].profile",
            "no-such-profile",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
            "    workers: 0\n",
            5,
            "schedules[0].workers",
            "from 1 to 64",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
            "    vantages: [hn, hn]\n",
            5,
            "schedules[0].vantages[1]",
            "given twice",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
            "    options:\n      timeout: 900\n",
            6,
            "schedules[0].options",
            "--timeout must be between 0 and 300",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
            "    options:\n      speed: 9\n",
            6,
            "schedules[0].options.speed",
            "unknown key 'speed'",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
            "    options:\n      allow_private: 1\n",
            6,
            "schedules[0].options.allow_private",
            "expected true or false",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
            "    options:\n      concurrency: many\n",
            6,
            "schedules[0].options",
            "invalid int value",
        ),
        (
            "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
            "    alerts: [smtp]\n",
            5,
            "schedules[0].alerts",
            "expected the alerts (a mapping)",
        ),
    ],
)
def test_errors_name_the_file_the_line_and_the_field(
    tmp_path: Path, text: str, line: int, field: str, says: str
) -> None:
    errors = _errors(tmp_path, text)
    assert any(ln == line and f == field and says in m for ln, f, m in errors), errors


def test_every_error_is_reported_in_file_order_and_duplicates_are_named(tmp_path: Path) -> None:
    text = (
        "schedules:\n"
        "  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
        "  - name: a\n    inventory: inv.yaml\n    cron: '@daily'\n"
        "  - name: b\n    inventory: inv.yaml\n    cron: 'x'\n    workers: -1\n"
    )
    errors = _errors(tmp_path, text)
    assert [(ln, f) for ln, f, _ in errors] == [
        (5, "schedules[1].name"),
        (10, "schedules[2].cron"),
        (11, "schedules[2].workers"),
    ]
    assert "first given on line 2" in errors[0][2]


def test_load_raises_the_first_error(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError) as caught:
        load_schedules(_write(tmp_path, "schedules: 3\n"))
    assert caught.value.line == 1 and caught.value.field == "schedules"
    missing = check_schedules(tmp_path / "absent.yaml")[1]
    assert missing[0].line == 0 and missing[0].field == "file"


def test_cron_problem_accepts_the_five_field_forms() -> None:
    for good in ("* * * * *", "0 2 * * 1", "*/15 8-17 * * mon-fri", "0 0 1 jan *", "@weekly"):
        assert cron_problem(good) is None, good
    assert cron_problem("0 2 * * 8")


def _spec(cron: str, tz: str = DEFAULT_TIMEZONE) -> ScheduleSpec:
    return ScheduleSpec(name="s", inventory="/inv.yaml", cron=cron, timezone=tz)


def test_next_run_is_computed_in_ho_chi_minh_time() -> None:
    weekly = _spec("0 2 * * 1")  # 02:00 on Mondays in Hà Nội = 19:00 UTC on Sundays
    # Sunday 2026-12-06 18:59 UTC = Monday 01:59 in Hà Nội
    nxt = weekly.next_run(datetime(2026, 12, 6, 18, 59, tzinfo=UTC))
    assert nxt == datetime(2026, 12, 7, 2, 0, tzinfo=HCM)
    assert nxt.astimezone(UTC) == datetime(2026, 12, 6, 19, 0, tzinfo=UTC)
    # the same instant as Monday 02:00 exactly: the next is a week later
    assert weekly.next_run(nxt) == datetime(2026, 12, 14, 2, 0, tzinfo=HCM)
    # Monday 01:00 UTC is Monday 08:00 in Hà Nội: past this week's run
    assert weekly.next_run(datetime(2026, 12, 7, 1, 0, tzinfo=UTC)).day == 14
    # the same cron in UTC fires seven hours later
    assert _spec("0 2 * * 1", "UTC").next_run(datetime(2026, 12, 6, 18, 59, tzinfo=UTC)) == (
        datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    )
    with pytest.raises(ValueError, match="naive"):
        weekly.next_run(datetime(2026, 12, 6, 18, 59))


def test_latest_due_includes_the_exact_minute() -> None:
    weekly = _spec("0 2 * * 1")
    monday = datetime(2026, 12, 7, 2, 0, tzinfo=HCM)
    assert weekly.latest_due(monday) == monday
    assert weekly.latest_due(monday + timedelta(seconds=59)) == monday
    assert weekly.latest_due(monday - timedelta(seconds=1)) == monday - timedelta(days=7)
    minute = _spec("* * * * *")
    at = datetime(2026, 12, 7, 9, 30, 42, 5, tzinfo=UTC)
    assert minute.latest_due(at) == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def test_a_missed_run_runs_once_however_many_were_missed() -> None:
    weekly = _spec("0 2 * * 1")
    last = datetime(2026, 11, 2, 2, 0, tzinfo=HCM)  # the last run recorded
    # down for five weeks: one run, for the latest due time
    now = datetime(2026, 12, 9, 12, 0, tzinfo=HCM)
    assert missed_run(weekly, last, now) == datetime(2026, 12, 7, 2, 0, tzinfo=HCM)
    # the latest due time ran already: nothing
    assert missed_run(weekly, datetime(2026, 12, 7, 2, 0, tzinfo=HCM), now) is None
    # a schedule that never ran has missed nothing: it starts at its next cron time
    assert missed_run(weekly, None, now) is None


def test_schedules_validate_shows_the_next_runs_or_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditor.cli import main

    good = _write(tmp_path, GOOD)
    assert main(["schedules", "validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert f"{good}: ok: 2 schedule(s)" in out
    assert "weekly: 0 2 * * 1 (Asia/Ho_Chi_Minh), next run " in out and "+07:00" in out
    assert "vantages hanoi, hcm" in out
    bad = _write(tmp_path, "schedules:\n  - name: a\n    inventory: inv.yaml\n    cron: x\n")
    assert main(["schedules", "validate", str(bad)]) == 2
    assert f"{bad}:4: schedules[0].cron: expected five fields" in capsys.readouterr().err
