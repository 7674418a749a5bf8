"""Unit tests for auditor.inventory (no network)."""

from __future__ import annotations

import json
import pickle
import textwrap
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.inventory import (
    Defaults,
    HostEntry,
    Inventory,
    InventoryError,
    UnknownAgencyError,
    Waiver,
    load_inventory,
    to_ascii_name,
    to_display_name,
    validate_inventory,
)

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = ROOT / "inventories"

VALID = """\
version: 1
name: "Quảng Ninh – test"
as_of: 2026-11-01
profile: vn-gov
defaults:
  ports: [80, 443, 8443]
agencies:
  - id: ubnd-tinh
    name: "UBND tỉnh Quảng Ninh"
    name_en: "Quang Ninh Provincial People's Committee"
    parent: null
    contact: "cntt@quangninh.gov.vn"
    tags: [province]
    domains: [quangninh.gov.vn]
    hosts:
      - www.quangninh.gov.vn
      - {host: dichvucong.quangninh.gov.vn, paths: ["/", "/tracuu"]}
      - congchuc.quangninh.gov.vn
    waivers:
      - check: tls.protocols.legacy
        hosts: ["congchuc.*"]
        reason: "old e-office clients"
        approved_by: "Sở KH&CN"
        expires: 2027-03-31
  - id: so-noi-vu
    name: "Sở Nội vụ"
    parent: ubnd-tinh
    hosts:
      - {host: www.quangninh.gov.vn, paths: ["/sonoivu"]}
      - "Sở-Nội-Vụ.QuảngNinh.gov.vn."
  - id: so-y-te
    name: "Sở Y tế"
    parent: ubnd-tinh
    domains: [QUANGNINH.GOV.VN.]
    hosts:
      - {host: www.quangninh.gov.vn, paths: ["/soyte"]}
"""


def write(tmp_path: Path, text: str, name: str = "inv.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def one_error(path: Path) -> InventoryError:
    errors = validate_inventory(path)
    assert len(errors) == 1, [str(e) for e in errors]
    with pytest.raises(InventoryError) as excinfo:
        load_inventory(path)
    assert str(excinfo.value) == str(errors[0])
    return errors[0]


def assert_error(
    path: Path, line: int, field: str, contains: str, *, only: bool = True
) -> InventoryError:
    if only:
        err = one_error(path)
    else:
        errors = validate_inventory(path)
        matching = [e for e in errors if e.field == field]
        assert matching, [str(e) for e in errors]
        err = matching[0]
    assert err.file == str(path)
    assert (err.line, err.field) == (line, field), str(err)
    assert contains in err.message, err.message
    assert str(err) == f"{path}:{line}: {field}: {err.message}"
    return err


# A minimal agency block, indented for use under "agencies:".
HEAD = "version: 1\nagencies:\n"


# --------------------------------------------------------------------------- valid files


def test_valid_file_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert validate_inventory(path) == []
    inv = load_inventory(path)
    assert inv.path == str(path)
    assert inv.version == 1
    assert inv.name == "Quảng Ninh – test"
    assert inv.as_of == date(2026, 11, 1)
    assert inv.profile == "vn-gov"
    assert inv.defaults == Defaults(paths=("/",), ports=(80, 443, 8443))
    assert [a.id for a in inv.agencies] == ["ubnd-tinh", "so-noi-vu", "so-y-te"]

    top = inv.agency("ubnd-tinh")
    assert top.line == 8
    assert top.name_en == "Quang Ninh Provincial People's Committee"
    assert top.parent is None
    assert top.contact == "cntt@quangninh.gov.vn"
    assert top.tags == ("province",)
    assert top.domains == ("quangninh.gov.vn",)
    assert top.hosts[0] == HostEntry("www.quangninh.gov.vn", "www.quangninh.gov.vn", ("/",), 16)
    assert top.hosts[1].paths == ("/", "/tracuu")
    assert top.waivers == (
        Waiver(
            check="tls.protocols.legacy",
            hosts=("congchuc.*",),
            reason="old e-office clients",
            approved_by="Sở KH&CN",
            expires=date(2027, 3, 31),
            line=20,
        ),
    )

    noi_vu = inv.agency("so-noi-vu")
    assert noi_vu.parent == "ubnd-tinh"
    assert noi_vu.name_en is None and noi_vu.contact is None and noi_vu.tags == ()
    idn = noi_vu.hosts[1]
    assert idn.host == "xn--s-ni-v-5n8bub8c.xn--qungninh-6x0d.gov.vn"
    assert idn.display == "sở-nội-vụ.quảngninh.gov.vn"
    assert inv.agency("so-y-te").domains == ("quangninh.gov.vn",)
    assert inv.children("ubnd-tinh") == (noi_vu, inv.agency("so-y-te"))
    with pytest.raises(KeyError):
        inv.agency("nope")

    snapshot = inv.to_dict()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot["as_of"] == "2026-11-01"
    assert snapshot["agencies"][0]["waivers"][0]["expires"] == "2027-03-31"
    assert snapshot["agencies"][1]["hosts"][1]["display"] == "sở-nội-vụ.quảngninh.gov.vn"


def test_optional_top_level_keys_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD + "  - {id: a, name: A, hosts: [www.example.gov.vn]}\n",
        name="my-programme.yml",
    )
    inv = load_inventory(path)
    assert inv.name == "my-programme"
    assert inv.as_of is None and inv.profile is None
    assert inv.defaults == Defaults()
    assert inv.agencies[0].hosts[0].paths == ("/",)


def test_defaults_paths_apply_to_bare_hosts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        defaults: {paths: ["/", "/en"]}
        agencies:
          - id: a
            name: A
            hosts: [www.example.gov.vn, {host: b.example.gov.vn, paths: [/x]}]
        """,
    )
    hosts = load_inventory(path).agencies[0].hosts
    assert hosts[0].paths == ("/", "/en")
    assert hosts[1].paths == ("/x",)


@pytest.mark.parametrize("name", ["example.yaml", "quang-ninh.yaml", "example.csv"])
def test_shipped_inventories_load(name: str) -> None:
    path = INVENTORIES / name
    assert validate_inventory(path) == []
    inv = load_inventory(path)
    assert len(inv.agencies) >= 2
    json.dumps(inv.to_dict())


def test_quang_ninh_inventory_shape() -> None:
    inv = load_inventory(INVENTORIES / "quang-ninh.yaml")
    assert inv.as_of is not None
    owners = inv.host_owners()
    shared = owners["www.quangninh.gov.vn"]
    assert shared[0] == "ubnd-tinh"
    assert len(shared) >= 15
    departments = [a for a in inv.agencies if "department" in a.tags]
    assert len(departments) >= 12
    assert all(a.parent == "ubnd-tinh" for a in departments)
    for agency in inv.agencies:
        if agency.contact is not None:
            # Role mailboxes only.
            assert agency.contact.split("@")[0] in {"cntt", "hcc", "toasoan"}
    assert {"halongcity.gov.vn", "uongbi.gov.vn", "mongcai.gov.vn", "campha.gov.vn"} <= set(
        inv.zone_owners()
    )


def test_example_csv_matches_example_yaml_hosts() -> None:
    from_yaml = load_inventory(INVENTORIES / "example.yaml")
    from_csv = load_inventory(INVENTORIES / "example.csv")
    assert from_yaml.host_owners() == from_csv.host_owners()
    assert from_yaml.zone_owners() == from_csv.zone_owners()


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("quangninh.gov.vn", "quangninh.gov.vn"),
        ("QuangNinh.GOV.vn", "quangninh.gov.vn"),
        ("quangninh.gov.vn.", "quangninh.gov.vn"),
        ("quảngninh.gov.vn", "xn--qungninh-6x0d.gov.vn"),
        ("QUẢNGNINH.GOV.VN", "xn--qungninh-6x0d.gov.vn"),
        ("sở-nội-vụ.quảngninh.gov.vn", "xn--s-ni-v-5n8bub8c.xn--qungninh-6x0d.gov.vn"),
        ("xn--qungninh-6x0d.gov.vn", "xn--qungninh-6x0d.gov.vn"),
        ("XN--QUNGNINH-6X0D.gov.vn.", "xn--qungninh-6x0d.gov.vn"),
        ("Đà-Nẵng.vn", "xn---nng-zna70au54p.vn"),
        ("a" * 63 + ".vn", "a" * 63 + ".vn"),
    ],
)
def test_to_ascii_name(given: str, expected: str) -> None:
    assert to_ascii_name(given) == expected


def test_to_display_name() -> None:
    assert to_display_name("xn--qungninh-6x0d.gov.vn") == "quảngninh.gov.vn"
    assert to_display_name("www.quangninh.gov.vn") == "www.quangninh.gov.vn"
    assert to_display_name("xn--abc.vn") == "xn--abc.vn"  # undecodable: shown as is


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "empty name"),
        ("a..gov.vn", "empty label"),
        (".gov.vn", "empty label"),
        ("a" * 64 + ".vn", "longer than 63"),
        (".".join(["a" * 60] * 5), "longer than 253"),
        ("my_host.gov.vn", "underscore"),
        ("localhost", "single-label"),
        ("vn.", "single-label"),
        ("192.0.2.1", "IP address literal"),
        ("2001:db8::1", "IP address literal"),
        ("[2001:db8::1]", "IP address literal"),
        ("https://www.quangninh.gov.vn/", "write the host name, not a URL"),
        ("www.quangninh.gov.vn/sonoivu", "write the host name, not a URL"),
        ("www.quangninh.gov.vn:443", "port"),
        ("a b.gov.vn", "whitespace"),
        (" www.gov.vn", "whitespace"),
        ("-bad.gov.vn", "IDNA 2008"),
        ("bad!.gov.vn", "IDNA 2008"),
        ("xn--abc.vn", "IDNA 2008"),
        ("1.2.3.999", "all-numeric"),
    ],
)
def test_to_ascii_name_rejects(given: str, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        to_ascii_name(given)
    assert message in str(excinfo.value)


def test_url_error_suggests_host() -> None:
    with pytest.raises(ValueError, match=r"'www\.quangninh\.gov\.vn'"):
        to_ascii_name("https://www.quangninh.gov.vn/")


# --------------------------------------------------------------------------- error format


def test_error_attributes_and_pickle() -> None:
    err = InventoryError("x.yaml", 3, "agencies[0].id", "boom")
    assert (err.file, err.line, err.field, err.message) == ("x.yaml", 3, "agencies[0].id", "boom")
    assert str(err) == "x.yaml:3: agencies[0].id: boom"
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err) and copy.field == err.field


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nagencies:\n  - id: a\n    name: A: b\n")
    assert_error(path, 4, "document", "YAML syntax error: mapping values are not allowed here")


def test_yaml_unclosed_flow_points_at_end(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nagencies:\n  - id: a\n    name: [unclosed\n")
    assert_error(path, 5, "document", "expected ',' or ']'")


def test_yaml_tab_indentation_error(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nagencies:\n\t- id: a\n")
    assert_error(path, 3, "document", "YAML syntax error")


def test_multiple_documents(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\n---\nversion: 1\n")
    assert_error(path, 2, "document", "single document")


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing\n")
    assert_error(path, 1, "document", "empty inventory")


def test_top_level_not_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "\n- version: 1\n")
    assert_error(path, 2, "document", "expected the inventory (a mapping), got a list")


def test_missing_version(tmp_path: Path) -> None:
    path = write(tmp_path, "agencies:\n  - {id: a, name: A, hosts: [a.gov.vn]}\n")
    assert_error(path, 1, "version", "missing required key 'version'")


@pytest.mark.parametrize("value", ["2", "'1'", "1.0", "null"])
def test_unsupported_version(tmp_path: Path, value: str) -> None:
    path = write(
        tmp_path, f"name: x\nversion: {value}\nagencies: [{{id: a, name: A, hosts: [a.gov.vn]}}]\n"
    )
    assert_error(path, 2, "version", "unsupported version")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "  - {id: a, name: A, hosts: [a.gov.vn]}\nowner: me\n")
    err = assert_error(path, 4, "owner", "unknown key 'owner'")
    assert "allowed keys: version, name, as_of, profile, defaults, agencies" in err.message


@pytest.mark.parametrize(
    ("text", "line", "field", "allowed"),
    [
        (
            HEAD + "  - id: a\n    name: A\n    hosts: [a.gov.vn]\n    homepage: x\n",
            6,
            "agencies[0].homepage",
            "id, name, name_en",
        ),
        (
            HEAD + "  - id: a\n    name: A\n    hosts:\n      - {host: a.gov.vn, port: 8080}\n",
            6,
            "agencies[0].hosts[0].port",
            "host, paths",
        ),
        (
            HEAD
            + "  - id: a\n    name: A\n    hosts: [a.gov.vn]\n    waivers:\n"
            + "      - {check: http.csp, hosts: ['*'], reason: r, approved_by: x,"
            + " until: 2027-01-01}\n",
            7,
            "agencies[0].waivers[0].until",
            "check, hosts, reason, approved_by, expires",
        ),
        (
            "version: 1\ndefaults:\n  timeout: 5\n"
            + "agencies: [{id: a, name: A, hosts: [a.gov.vn]}]\n",
            3,
            "defaults.timeout",
            "paths, ports",
        ),
    ],
)
def test_unknown_keys_at_every_level(
    tmp_path: Path, text: str, line: int, field: str, allowed: str
) -> None:
    err = assert_error(write(tmp_path, text), line, field, "unknown key")
    assert allowed in err.message


def test_merge_keys_rejected(tmp_path: Path) -> None:
    text = HEAD + "  - &a {id: a, name: A, hosts: [a.gov.vn]}\n  - <<: *a\n    id: b\n"
    assert_error(write(tmp_path, text), 4, "agencies[1].<<", "merge keys", only=False)


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    path = write(
        tmp_path, "version: 1\nname: a\nname: b\nagencies: [{id: a, name: A, hosts: [a.gov.vn]}]\n"
    )
    err = assert_error(path, 3, "name", "duplicate key 'name'")
    assert "line 2" in err.message


def test_duplicate_agency_key(tmp_path: Path) -> None:
    text = HEAD + "  - id: a\n    name: A\n    hosts: [a.gov.vn]\n    hosts: [b.gov.vn]\n"
    assert_error(write(tmp_path, text), 6, "agencies[0].hosts", "duplicate key 'hosts'")


def test_duplicate_waiver_key(tmp_path: Path) -> None:
    text = (
        HEAD
        + "  - id: a\n    name: A\n    hosts: [a.gov.vn]\n    waivers:\n"
        + "      - check: http.csp\n        hosts: ['*']\n        reason: r\n"
        + "        approved_by: x\n"
        + "        reason: again\n"
    )
    assert_error(write(tmp_path, text), 11, "agencies[0].waivers[0].reason", "duplicate key")


def test_duplicate_agency_ids(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {id: a, name: A, hosts: [a.gov.vn]}\n"
        "  - {id: b, name: B, hosts: [b.gov.vn]}\n"
        "  - id: a\n    name: A2\n    hosts: [c.gov.vn]\n"
    )
    err = assert_error(write(tmp_path, text), 5, "agencies[2].id", "duplicate agency id 'a'")
    assert "line 3" in err.message


def test_unknown_parent(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {id: ubnd-tinh, name: A, hosts: [a.gov.vn]}\n"
        "  - id: so-noi-vu\n    name: B\n    parent: ubnd-tin\n    hosts: [b.gov.vn]\n"
    )
    err = assert_error(write(tmp_path, text), 6, "agencies[1].parent", "unknown parent 'ubnd-tin'")
    assert "did you mean ubnd-tinh" in err.message


def test_parent_cycle(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {id: a, name: A, parent: c, hosts: [a.gov.vn]}\n"
        "  - {id: b, name: B, parent: a, hosts: [b.gov.vn]}\n"
        "  - {id: c, name: C, parent: b, hosts: [c.gov.vn]}\n"
        "  - {id: d, name: D, parent: c, hosts: [d.gov.vn]}\n"
    )
    err = assert_error(write(tmp_path, text), 3, "agencies[0].parent", "parent cycle")
    assert "a -> c -> b -> a" in err.message


def test_self_parent(tmp_path: Path) -> None:
    text = HEAD + "  - id: a\n    name: A\n    parent: a\n    hosts: [a.gov.vn]\n"
    assert_error(write(tmp_path, text), 5, "agencies[0].parent", "parent cycle: a -> a")


@pytest.mark.parametrize(
    ("value", "contains"),
    [
        ("2026-13-01", "invalid date"),
        ("2026-02-30", "invalid date"),
        ("'2026-02-30'", "invalid date"),
        ("2026-1-5", "YYYY-MM-DD"),
        ("01/11/2026", "YYYY-MM-DD"),
        ("2026-11-01 10:00:00", "YYYY-MM-DD"),
        ("20261101", "YYYY-MM-DD"),
        ("[2026]", "YYYY-MM-DD"),
    ],
)
def test_bad_as_of(tmp_path: Path, value: str, contains: str) -> None:
    path = write(
        tmp_path, f"version: 1\nas_of: {value}\nagencies: [{{id: a, name: A, hosts: [a.gov.vn]}}]\n"
    )
    assert_error(path, 2, "as_of", contains)


def test_quoted_date_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\nas_of: '2026-11-01'\nagencies: [{id: a, name: A, hosts: [a.gov.vn]}]\n",
    )
    assert load_inventory(path).as_of == date(2026, 11, 1)


WAIVER_AGENCY = HEAD + "  - id: a\n    name: A\n    hosts: [a.gov.vn]\n    waivers:\n"


def test_bad_waiver_expires(tmp_path: Path) -> None:
    text = WAIVER_AGENCY + (
        "      - check: http.csp\n        hosts: ['*']\n        reason: r\n        approved_by: x\n"
        "        expires: 2027-02-29\n"
    )
    assert_error(write(tmp_path, text), 11, "agencies[0].waivers[0].expires", "invalid date")


def test_waiver_without_expiry_never_expires(tmp_path: Path) -> None:
    text = (
        WAIVER_AGENCY + "      - {check: ipv6.web.aaaa, hosts: ['*'], reason: r, approved_by: x}\n"
    )
    waiver = load_inventory(write(tmp_path, text)).agencies[0].waivers[0]
    assert waiver.expires is None
    assert not waiver.expired(date(2999, 1, 1))
    assert waiver.matches("ipv6.web.aaaa", "a.gov.vn", date(2999, 1, 1))


@pytest.mark.parametrize(
    "check", ["tls", "TLS.protocols", "tls..x", "tls.protocols.", "tls-x.y", "tls.*"]
)
def test_bad_waiver_check_id(tmp_path: Path, check: str) -> None:
    text = (
        WAIVER_AGENCY + f"      - {{check: '{check}', hosts: ['*'], reason: r, approved_by: x}}\n"
    )
    assert_error(write(tmp_path, text), 7, "agencies[0].waivers[0].check", "invalid check id")


@pytest.mark.parametrize("missing", ["reason", "approved_by", "check", "hosts"])
def test_waiver_missing_required(tmp_path: Path, missing: str) -> None:
    fields = {"check": "ipv6.web.aaaa", "hosts": "['*']", "reason": "r", "approved_by": "x"}
    del fields[missing]
    body = ", ".join(f"{k}: {v}" for k, v in fields.items())
    text = WAIVER_AGENCY + f"      - {{{body}}}\n"
    assert_error(
        write(tmp_path, text),
        7,
        f"agencies[0].waivers[0].{missing}",
        f"missing required key '{missing}'",
    )


def test_waiver_empty_reason(tmp_path: Path) -> None:
    text = (
        WAIVER_AGENCY
        + "      - {check: ipv6.web.aaaa, hosts: ['*'], reason: '  ', approved_by: x}\n"
    )
    assert_error(write(tmp_path, text), 7, "agencies[0].waivers[0].reason", "must not be empty")


def test_waiver_bad_host_glob(tmp_path: Path) -> None:
    text = (
        WAIVER_AGENCY
        + "      - {check: http.csp, hosts: ['*', 'https://a.gov.vn/'], reason: r,"
        + " approved_by: x}\n"
    )
    assert_error(write(tmp_path, text), 7, "agencies[0].waivers[0].hosts[1]", "not a URL")


@pytest.mark.parametrize(
    ("hosts_yaml", "line", "field", "contains"),
    [
        (
            "[https://www.quangninh.gov.vn/]",
            5,
            "agencies[0].hosts[0]",
            "write the host name, not a URL",
        ),
        ("[ok.gov.vn, 192.0.2.10]", 5, "agencies[0].hosts[1]", "IP address literal"),
        ("['2001:db8::10']", 5, "agencies[0].hosts[0]", "IP address literal"),
        ("[my_host.gov.vn]", 5, "agencies[0].hosts[0]", "underscore"),
        ("[localhost]", 5, "agencies[0].hosts[0]", "single-label"),
        ("[a..gov.vn]", 5, "agencies[0].hosts[0]", "empty label"),
        (f"[{'a' * 64}.gov.vn]", 5, "agencies[0].hosts[0]", "longer than 63"),
        ("['bad!name.gov.vn']", 5, "agencies[0].hosts[0]", "IDNA 2008"),
        ("[null]", 5, "agencies[0].hosts[0]", "expected a host name"),
        ("[[a.gov.vn]]", 5, "agencies[0].hosts[0]", "expected a host name"),
        (
            "\n      - ok.gov.vn\n      - {host: 'x y.gov.vn'}",
            7,
            "agencies[0].hosts[1].host",
            "whitespace",
        ),
        ("\n      - {paths: [/]}", 6, "agencies[0].hosts[0].host", "missing required key 'host'"),
        ("www.gov.vn", 5, "agencies[0].hosts", "expected a list of hosts"),
    ],
)
def test_invalid_hosts(
    tmp_path: Path, hosts_yaml: str, line: int, field: str, contains: str
) -> None:
    text = HEAD + f"  - id: a\n    name: A\n    hosts: {hosts_yaml}\n"
    assert_error(write(tmp_path, text), line, field, contains)


def test_invalid_domain(tmp_path: Path) -> None:
    text = HEAD + "  - id: a\n    name: A\n    domains:\n      - quangninh.gov.vn\n      - gov\n"
    assert_error(write(tmp_path, text), 7, "agencies[0].domains[1]", "single-label")


def test_duplicate_host_and_domain_within_agency(tmp_path: Path) -> None:
    text = HEAD + (
        "  - id: a\n    name: A\n    domains: [a.gov.vn, A.GOV.VN.]\n"
        "    hosts:\n      - www.a.gov.vn\n      - {host: WWW.A.gov.vn, paths: [/x]}\n"
    )
    errors = validate_inventory(write(tmp_path, text))
    assert [(e.line, e.field) for e in errors] == [
        (5, "agencies[0].domains[1]"),
        (8, "agencies[0].hosts[1]"),
    ]
    assert "duplicate domain" in errors[0].message
    assert "duplicate host" in errors[1].message


@pytest.mark.parametrize(
    ("paths", "contains"),
    [
        ("[sonoivu]", "must start with '/'"),
        ("['/', '/a b']", "whitespace"),
        ("['/#top']", "fragment"),
        ("['/', '/']", "duplicate path"),
        ("[]", "at least one path"),
        ("[7]", "expected a string"),
    ],
)
def test_bad_paths(tmp_path: Path, paths: str, contains: str) -> None:
    text = (
        HEAD
        + f"  - id: a\n    name: A\n    hosts:\n      - host: a.gov.vn\n        paths: {paths}\n"
    )
    errors = validate_inventory(write(tmp_path, text))
    assert len(errors) == 1, [str(e) for e in errors]
    assert errors[0].line == 7
    assert errors[0].field.startswith("agencies[0].hosts[0].paths")
    assert contains in errors[0].message


def test_path_error_field_has_index(tmp_path: Path) -> None:
    text = (
        HEAD
        + "  - id: a\n    name: A\n    hosts:\n      - {host: a.gov.vn, paths: ['/', sonoivu]}\n"
    )
    assert_error(write(tmp_path, text), 6, "agencies[0].hosts[0].paths[1]", "must start with '/'")


def test_agency_without_domains_or_hosts(tmp_path: Path) -> None:
    text = HEAD + "  - {id: a, name: A, hosts: [a.gov.vn]}\n  - id: b\n    name: B\n    tags: [x]\n"
    assert_error(write(tmp_path, text), 4, "agencies[1]", "neither domains nor hosts")


def test_agency_with_empty_lists(tmp_path: Path) -> None:
    text = HEAD + "  - {id: a, name: A, hosts: [], domains: []}\n"
    assert_error(write(tmp_path, text), 3, "agencies[0]", "neither domains nor hosts")


@pytest.mark.parametrize(
    ("agency", "field", "contains"),
    [
        ("{id: Sở, name: A, hosts: [a.gov.vn]}", "agencies[0].id", "invalid agency id"),
        ("{id: -a, name: A, hosts: [a.gov.vn]}", "agencies[0].id", "invalid agency id"),
        ("{id: 12, name: A, hosts: [a.gov.vn]}", "agencies[0].id", "expected a string"),
        ("{id: a, name: yes, hosts: [a.gov.vn]}", "agencies[0].name", "quote it"),
        ("{id: a, name: '', hosts: [a.gov.vn]}", "agencies[0].name", "must not be empty"),
        ("{id: a, hosts: [a.gov.vn]}", "agencies[0].name", "missing required key 'name'"),
        ("{id: a, name: A, tags: x, hosts: [a.gov.vn]}", "agencies[0].tags", "expected a list"),
        (
            "{id: a, name: A, tags: [[x]], hosts: [a.gov.vn]}",
            "agencies[0].tags[0]",
            "expected a string",
        ),
        (
            "{id: a, name: A, contact: [x], hosts: [a.gov.vn]}",
            "agencies[0].contact",
            "expected a string",
        ),
        ("{id: a, name: A, hosts: {a: b}}", "agencies[0].hosts", "expected a list"),
        (
            "{id: a, name: A, hosts: [a.gov.vn], waivers: {}}",
            "agencies[0].waivers",
            "expected a list",
        ),
        ("[a]", "agencies[0]", "expected an agency (a mapping), got a list"),
        ("plain", "agencies[0]", "expected an agency (a mapping)"),
    ],
)
def test_wrong_types(tmp_path: Path, agency: str, field: str, contains: str) -> None:
    assert_error(write(tmp_path, HEAD + f"  - {agency}\n"), 3, field, contains)


def test_agencies_wrong_type_and_empty(tmp_path: Path) -> None:
    assert_error(write(tmp_path, "version: 1\nagencies: x\n"), 2, "agencies", "expected a list")
    assert_error(write(tmp_path, "version: 1\nagencies: []\n"), 2, "agencies", "no agencies")
    assert_error(write(tmp_path, "version: 1\nname: x\n"), 1, "agencies", "missing required key")


@pytest.mark.parametrize(
    ("defaults", "field", "contains"),
    [
        ("{ports: [0]}", "defaults.ports[0]", "outside 1-65535"),
        ("{ports: [443, 443]}", "defaults.ports[1]", "duplicate port"),
        ("{ports: ['443']}", "defaults.ports[0]", "expected a port number"),
        ("{ports: []}", "defaults.ports", "at least one port"),
        ("{paths: [x]}", "defaults.paths[0]", "must start with '/'"),
        ("[80]", "defaults", "expected defaults (a mapping)"),
    ],
)
def test_bad_defaults(tmp_path: Path, defaults: str, field: str, contains: str) -> None:
    text = f"version: 1\ndefaults: {defaults}\nagencies: [{{id: a, name: A, hosts: [a.gov.vn]}}]\n"
    assert_error(write(tmp_path, text), 2, field, contains)


def test_unknown_yaml_tag(tmp_path: Path) -> None:
    text = (
        "version: 1\nname: !!python/object:os.system x\n"
        "agencies: [{id: a, name: A, hosts: [a.gov.vn]}]\n"
    )
    assert_error(write(tmp_path, text), 2, "name", "expected a string")


def test_validate_collects_all_errors_in_file_order(tmp_path: Path) -> None:
    text = """\
        version: 1
        as_of: soon
        agencies:
          - id: a
            name: A
            parent: nobody
            hosts: [https://a.gov.vn/]
          - id: a
            name: A again
            domains: [b.gov.vn]
            colour: red
            waivers:
              - {check: BAD, hosts: ['*'], reason: r}
        """
    errors = validate_inventory(write(tmp_path, text))
    assert [(e.line, e.field) for e in errors] == [
        (2, "as_of"),
        (6, "agencies[0].parent"),
        (7, "agencies[0].hosts[0]"),
        (8, "agencies[1].id"),
        (11, "agencies[1].colour"),
        (13, "agencies[1].waivers[0].approved_by"),
        (13, "agencies[1].waivers[0].check"),
    ]


# --------------------------------------------------------------------------- files


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "inv.json"
    path.write_text("{}", encoding="utf-8")
    err = assert_error(path, 0, "file", "unsupported inventory format '.json'")
    assert ".yaml, .yml or .csv" in err.message


def test_missing_file(tmp_path: Path) -> None:
    assert_error(tmp_path / "absent.yaml", 0, "file", "cannot read")


def test_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(b"version: 1\nname: S\xf4 N\xf4i\n")
    assert_error(path, 2, "file", "not valid UTF-8")


def test_control_character(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("version: 1\nname: a\x07b\n", encoding="utf-8")
    assert_error(path, 2, "document", "invalid character")


def test_utf8_bom_accepted(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(
        "\ufeffversion: 1\nagencies: [{id: a, name: Sở, hosts: [a.gov.vn]}]\n".encode()
    )
    assert load_inventory(path).agencies[0].name == "Sở"


# --------------------------------------------------------------------------- shared hosts


def test_host_and_zone_owners(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, VALID))
    assert inv.host_owners() == {
        "www.quangninh.gov.vn": ("ubnd-tinh", "so-noi-vu", "so-y-te"),
        "dichvucong.quangninh.gov.vn": ("ubnd-tinh",),
        "congchuc.quangninh.gov.vn": ("ubnd-tinh",),
        "xn--s-ni-v-5n8bub8c.xn--qungninh-6x0d.gov.vn": ("so-noi-vu",),
    }
    assert inv.zone_owners() == {"quangninh.gov.vn": ("ubnd-tinh", "so-y-te")}
    # Each agency keeps its own paths on the shared host.
    paths = {a.id: a.hosts[0].paths for a in inv.agencies}
    assert paths == {"ubnd-tinh": ("/",), "so-noi-vu": ("/sonoivu",), "so-y-te": ("/soyte",)}


# --------------------------------------------------------------------------- --only


def test_only_filters_in_inventory_order(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, VALID))
    sub = inv.only(["so-y-te", "ubnd-tinh"])
    assert isinstance(sub, Inventory)
    assert [a.id for a in sub.agencies] == ["ubnd-tinh", "so-y-te"]
    assert sub.host_owners()["www.quangninh.gov.vn"] == ("ubnd-tinh", "so-y-te")
    assert (sub.name, sub.as_of, sub.profile, sub.defaults) == (
        inv.name,
        inv.as_of,
        inv.profile,
        inv.defaults,
    )


def test_only_does_not_include_children(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, VALID))
    sub = inv.only(["ubnd-tinh"])
    assert [a.id for a in sub.agencies] == ["ubnd-tinh"]
    # A child selected alone keeps its parent reference.
    assert inv.only(["so-noi-vu"]).agencies[0].parent == "ubnd-tinh"


def test_only_unknown_id(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, VALID))
    with pytest.raises(UnknownAgencyError) as excinfo:
        inv.only(["ubnd-tinh", "so-noi-vu2", "zzz"])
    assert isinstance(excinfo.value, ValueError)
    assert excinfo.value.unknown == ("so-noi-vu2", "zzz")
    message = str(excinfo.value)
    assert "'so-noi-vu2' (did you mean so-noi-vu" in message
    assert "'zzz'" in message
    with pytest.raises(ValueError, match="no agency id"):
        inv.only([])


# --------------------------------------------------------------------------- waivers


def test_waiver_matching_and_expiry(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, VALID))
    waiver = inv.agency("ubnd-tinh").waivers[0]
    before = date(2027, 3, 30)
    assert waiver.matches("tls.protocols.legacy", "congchuc.quangninh.gov.vn", before)
    assert waiver.matches("tls.protocols.legacy", "CONGCHUC.quangninh.gov.vn.", before)
    assert not waiver.matches("tls.protocols.legacy", "www.quangninh.gov.vn", before)
    assert not waiver.matches("tls.protocols.weak", "congchuc.quangninh.gov.vn", before)
    # Valid through its expiry day, not after.
    assert waiver.matches("tls.protocols.legacy", "congchuc.quangninh.gov.vn", date(2027, 3, 31))
    assert not waiver.expired(date(2027, 3, 31))
    assert waiver.expired(date(2027, 4, 1))
    assert not waiver.matches("tls.protocols.legacy", "congchuc.quangninh.gov.vn", date(2027, 4, 1))


def test_waiver_unicode_glob_and_host(tmp_path: Path) -> None:
    hosts = "[a.gov.vn, www.quảngninh.gov.vn, sở-y-tế.vn, mail1.gov.vn]"
    text = WAIVER_AGENCY.replace("[a.gov.vn]", hosts) + (
        "      - check: ipv6.web.aaaa\n"
        "        hosts: ['*.QuảngNinh.gov.vn', 'sở-y-tế.vn', 'mail?.gov.vn']\n"
        "        reason: r\n        approved_by: x\n        expires: 2027-01-01\n"
    )
    waiver = load_inventory(write(tmp_path, text)).agencies[0].waivers[0]
    assert waiver.hosts == (
        "*.xn--qungninh-6x0d.gov.vn",
        to_ascii_name("sở-y-tế.vn"),
        "mail?.gov.vn",
    )
    today = date(2026, 12, 1)
    assert waiver.matches("ipv6.web.aaaa", "www.xn--qungninh-6x0d.gov.vn", today)
    assert waiver.matches("ipv6.web.aaaa", "www.quảngninh.gov.vn", today)
    assert waiver.matches("ipv6.web.aaaa", "Sở-Y-Tế.vn", today)
    assert waiver.matches("ipv6.web.aaaa", "mail1.gov.vn", today)
    assert not waiver.matches("ipv6.web.aaaa", "quangninh.gov.vn", today)
    assert not waiver.matches("ipv6.web.aaaa", "bad name!.vn", today)


def test_waiver_glob_mixing_unicode_and_wildcard(tmp_path: Path) -> None:
    text = (
        WAIVER_AGENCY
        + "      - {check: ipv6.web.aaaa, hosts: ['sở*.gov.vn'], reason: r, approved_by: x}\n"
    )
    assert_error(write(tmp_path, text), 7, "agencies[0].waivers[0].hosts[0]", "xn-- form")


# --------------------------------------------------------------------------- CSV


CSV_OK = """\
agency_id,agency_name,kind,name
ubnd-tinh,UBND tỉnh Quảng Ninh,domain,quangninh.gov.vn
ubnd-tinh,UBND tỉnh Quảng Ninh,host,www.quangninh.gov.vn

# comment lines and blank lines are skipped
so-noi-vu,Sở Nội vụ,host,www.quangninh.gov.vn
so-noi-vu,Sở Nội vụ,host,"Sở-Nội-Vụ.QuảngNinh.gov.vn"
ubnd-tinh,UBND tỉnh Quảng Ninh,host,dichvucong.quangninh.gov.vn
"""


def test_csv_import(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, CSV_OK, name="qn.csv"))
    assert (inv.version, inv.name, inv.as_of, inv.profile) == (1, "qn", None, None)
    assert [a.id for a in inv.agencies] == ["ubnd-tinh", "so-noi-vu"]
    top, noi_vu = inv.agencies
    assert top.name == "UBND tỉnh Quảng Ninh"
    assert top.line == 2
    assert top.domains == ("quangninh.gov.vn",)
    assert [h.host for h in top.hosts] == ["www.quangninh.gov.vn", "dichvucong.quangninh.gov.vn"]
    assert [h.line for h in top.hosts] == [3, 8]
    assert noi_vu.hosts[1].host == "xn--s-ni-v-5n8bub8c.xn--qungninh-6x0d.gov.vn"
    assert noi_vu.hosts[1].display == "sở-nội-vụ.quảngninh.gov.vn"
    assert inv.host_owners()["www.quangninh.gov.vn"] == ("ubnd-tinh", "so-noi-vu")


def test_csv_suffix_is_case_insensitive(tmp_path: Path) -> None:
    assert len(load_inventory(write(tmp_path, CSV_OK, name="QN.CSV")).agencies) == 2


@pytest.mark.parametrize(
    ("rows", "line", "field", "contains"),
    [
        ("a,A,host,a.gov.vn\na,B,host,b.gov.vn\n", 3, "agency_name", "is named 'A' on line 2"),
        ("a,A,zone,a.gov.vn\n", 2, "kind", "expected 'domain' or 'host'"),
        ("a,A,host,https://a.gov.vn/\n", 2, "name", "write the host name, not a URL"),
        ("a,A,host,192.0.2.1\n", 2, "name", "IP address literal"),
        ("a,A,host,a.gov.vn\nSở,A,host,b.gov.vn\n", 3, "agency_id", "invalid agency id"),
        ("a,,host,a.gov.vn\n", 2, "agency_name", "must not be empty"),
        ("a,A,host\n", 2, "name", "expected 4 columns, got 3"),
        ("a,A,host,a.gov.vn,extra\n", 2, "row", "expected 4 columns, got 5"),
        ("a,A,host,a.gov.vn\na,A,host,A.GOV.VN.\n", 3, "name", "duplicate host"),
        ('a,A,host,a.gov.vn\n\na,A,host,"b\n.gov.vn"\n', 4, "name", "whitespace"),
    ],
)
def test_csv_errors(tmp_path: Path, rows: str, line: int, field: str, contains: str) -> None:
    path = write(tmp_path, "agency_id,agency_name,kind,name\n" + rows, name="inv.csv")
    assert_error(path, line, field, contains)


def test_csv_bad_header(tmp_path: Path) -> None:
    path = write(tmp_path, "agency,agency_name,kind,name\na,A,host,a.gov.vn\n", name="inv.csv")
    err = assert_error(path, 1, "header", "expected the header agency_id,agency_name,kind,name")
    assert "unknown column(s): agency" in err.message


def test_csv_empty_and_header_only(tmp_path: Path) -> None:
    assert_error(write(tmp_path, "", name="a.csv"), 1, "header", "empty CSV")
    assert_error(
        write(tmp_path, "agency_id,agency_name,kind,name\n", name="b.csv"),
        1,
        "header",
        "no agencies",
    )


def test_csv_collects_all_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "agency_id,agency_name,kind,name\na,A,zone,a.gov.vn\nb,B,host,x_y.gov.vn\nc,C,host,ok.gov.vn\n",
        name="inv.csv",
    )
    errors = validate_inventory(path)
    assert [(e.line, e.field) for e in errors] == [(2, "kind"), (3, "name")]


# --------------------------------------------------------------------------- robustness


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".yaml", ".csv"]))
def test_random_bytes_only_raise_inventory_error(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        load_inventory(path)
    except InventoryError as err:
        assert err.line >= 0 and err.field
    assert all(isinstance(e, InventoryError) for e in validate_inventory(path))


_yaml_fragments = st.sampled_from(
    [
        "version: 1\n",
        "agencies:\n",
        "  - id: a\n",
        "    name: A\n",
        "    hosts: [a.gov.vn]\n",
        "    parent: a\n",
        "    waivers:\n",
        "      - {check: ipv6.web.aaaa, hosts: ['*'], reason: r}\n",
        "    domains: [b.gov.vn, 'Sở.vn']\n",
        "  - {id: b, name: B, hosts: [x_y.gov.vn]}\n",
        "as_of: 2026-02-30\n",
        "&x [*x]\n",
        "<<: {a: 1}\n",
        "- ",
        ": ",
        "{",
        "]",
        "'",
        "\t",
        "!!binary AAAA\n",
        "!!python/name:os.system\n",
        "version: 1\n",
        "defaults: {ports: [0]}\n",
        "        expires: 2027-01-01\n",
        "      - host: a.gov.vn\n        paths: [x]\n",
    ]
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(st.one_of(_yaml_fragments, st.text(max_size=12)), max_size=14))
def test_random_yaml_only_raise_inventory_error(tmp_path: Path, parts: list[str]) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text("".join(parts), encoding="utf-8", errors="surrogatepass")
    try:
        inv = load_inventory(path)
    except InventoryError as err:
        assert err.file == str(path) and err.line >= 0
    else:
        json.dumps(inv.to_dict())
    assert all(isinstance(e, InventoryError) for e in validate_inventory(path))


def test_empty_key(tmp_path: Path) -> None:
    assert_error(write(tmp_path, "?\n"), 1, "document", "unknown key ''", only=False)
    text = HEAD + "  - {id: a, name: A, hosts: [a.gov.vn], '': x}\n"
    assert_error(write(tmp_path, text), 3, "agencies[0]", "unknown key ''")


# --------------------------------------------------------------------------- waivers, semantics

TWO_AGENCIES = """\
version: 1
agencies:
  - id: a
    name: A
    domains: [a.gov.vn]
    hosts: [www.a.gov.vn, congchuc.a.gov.vn]
    waivers:
      - check: {check}
        hosts: {hosts}
        reason: r
        approved_by: x
        expires: {expires}
  - id: b
    name: B
    hosts: [portal.b.gov.vn]
"""


def _two(
    check: str = "tls.protocols.legacy", hosts: str = "['congchuc.*']", expires: str = "2999-01-01"
) -> str:
    return TWO_AGENCIES.format(check=check, hosts=hosts, expires=expires)


def test_waiver_unknown_check_id_suggests_the_closest(tmp_path: Path) -> None:
    err = assert_error(
        write(tmp_path, _two(check="tls.protocol.legacy")),
        8,
        "agencies[0].waivers[0].check",
        "unknown check id 'tls.protocol.legacy' (did you mean tls.protocols.legacy",
    )
    assert "`auditor checks`" in err.message


def test_waiver_host_glob_matching_no_host(tmp_path: Path) -> None:
    # The second glob is a typo: it is reported on its own line, the first one is fine.
    text = _two(hosts="\n          - 'congchuc.*'\n          - 'congchu.*'")
    assert_error(
        write(tmp_path, text),
        11,
        "agencies[0].waivers[0].hosts[1]",
        "host glob 'congchu.*' matches none of this agency's hosts (its hosts: www.a.gov.vn, "
        "congchuc.a.gov.vn)",
    )
    # A glob for another agency's host: the waiver covers its own agency's targets only.
    err = assert_error(
        write(tmp_path, _two(hosts="['portal.*']")), 9, "agencies[0].waivers[0].hosts[0]", ""
    )
    assert "portal.b.gov.vn (b) of other agencies" in err.message
    # A zone check is judged per domain: a host glob does not reach it.
    err = assert_error(
        write(tmp_path, _two(check="dns.dnssec", hosts="['www.*']")),
        9,
        "agencies[0].waivers[0].hosts[0]",
        "matches none of this agency's domains",
    )
    assert "dns.dnssec is judged per domain: list the domain (a.gov.vn)" in err.message
    assert validate_inventory(write(tmp_path, _two(check="dns.dnssec", hosts="['a.gov.vn']"))) == []


def test_expired_waiver_is_a_warning_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditor.cli import main
    from auditor.inventory import check_inventory

    path = write(tmp_path, _two(expires="2026-01-01"))
    errors, warnings = check_inventory(path, today=date(2026, 1, 11))
    assert errors == []
    assert [(w.line, w.field) for w in warnings] == [(12, "agencies[0].waivers[0].expires")]
    assert "expired on 2026-01-01 (10 day(s) ago): it no longer counts" in warnings[0].message
    assert check_inventory(path, today=date(2026, 1, 1)) == ([], [])  # valid through the day
    load_inventory(path)  # the scan still runs
    assert main(["inventory", "validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert f"{path}:12: agencies[0].waivers[0].expires: warning: waiver of " in captured.err
    assert "1 waiver(s), 1 warning(s)" in captured.out


def test_errors_and_warnings_together_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditor.cli import main

    text = _two(expires="2020-01-01") + (
        "  - id: c\n    name: C\n    hosts: [www.c.gov.vn]\n    waivers:\n"
        "      - {check: http.hstss, hosts: ['www.*'], reason: r, approved_by: x}\n"
    )
    path = write(tmp_path, text)
    assert main(["inventory", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "warning: waiver of tls.protocols.legacy expired on 2020-01-01" in err
    assert "unknown check id 'http.hstss' (did you mean http.hsts" in err


@pytest.fixture
def renamed_check(monkeypatch: pytest.MonkeyPatch) -> str:
    """``tls.legacy`` registered as the old id (alias) of tls.protocols.legacy."""
    from auditor import registry

    registry.load_checks()
    monkeypatch.setitem(registry._ALIASES, "tls.legacy", "tls.protocols.legacy")
    return "tls.legacy"


def test_waiver_with_an_old_check_id_applies_with_a_warning(
    tmp_path: Path, renamed_check: str
) -> None:
    from auditor.inventory import check_inventory

    path = write(tmp_path, _two(check=renamed_check))
    errors, warnings = check_inventory(path)
    assert errors == []
    assert [(w.line, w.field) for w in warnings] == [(8, "agencies[0].waivers[0].check")]
    assert "'tls.legacy' is the old id of 'tls.protocols.legacy'" in warnings[0].message
    waiver = load_inventory(path).agencies[0].waivers[0]
    today = date(2026, 6, 1)
    assert waiver.matches("tls.protocols.legacy", "congchuc.a.gov.vn", today)
    assert waiver.matches("tls.legacy", "congchuc.a.gov.vn", today)
    assert not waiver.matches("tls.protocols.modern", "congchuc.a.gov.vn", today)
