"""The API's OpenAPI 3.1 document (``GET /api/v1/openapi.json``), written by hand: the
read-only paths, documented in docs/API.md."""

from __future__ import annotations

from typing import Any

from auditor import __version__

# reports.xlsx.CONTENT_TYPE (not imported: this document is served without openpyxl too).
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
_SCAN = {
    "type": "object",
    "description": "The scan every answer is about: the store's latest complete scan.",
    "properties": {
        "id": {"type": "integer"},
        "started": {"type": "string", "format": "date-time"},
        "finished": {"type": ["string", "null"], "format": "date-time"},
        "inventory": {"type": "string"},
        "profile": {"type": "string"},
    },
    "required": ["id", "started", "inventory", "profile"],
}
_SUMMARY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "name_en": {"type": ["string", "null"]},
        "rank": {"type": ["integer", "null"], "description": "null: not ranked"},
        "score": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "grade": {"type": ["string", "null"]},
        "coverage": {"type": ["number", "null"]},
        "insufficient_data": {"type": "boolean"},
        "kpi": {"type": "string", "enum": ["yes", "no", "incomplete", "n/a"]},
        "change": {
            "type": ["number", "null"],
            "description": "score change since the previous scan",
        },
        "detail": {"type": "boolean", "description": "whether the caller may open its detail"},
    },
    "required": ["id", "name", "score", "grade", "kpi", "detail"],
}
_FINDING = {
    "type": "object",
    "properties": {
        "check": {"type": "string"},
        "status": {"type": "string"},
        "address": {"type": ["string", "null"]},
        "message": {"type": "string"},
        "evidence": {"type": "object"},
        "score": {"type": ["number", "null"]},
        "vantage": {"type": "string"},
    },
    "required": ["check", "status", "message", "evidence", "vantage"],
}


_RUN = {
    "type": "object",
    "description": "one run of a schedule",
    "properties": {
        "due": {
            "type": "string",
            "format": "date-time",
            "description": "the cron time it ran for, in the schedule's time zone",
        },
        "started": {"type": "string", "format": "date-time"},
        "finished": {"type": ["string", "null"], "format": "date-time"},
        "status": {
            "type": "string",
            "enum": [
                "running",
                "complete",
                "interrupted",
                "failed",
                "error",
                "skipped",
                "abandoned",
            ],
            "description": "skipped: the previous run was still going; abandoned: its "
            "scheduler stopped under it",
        },
        "scan": {"type": ["integer", "null"], "description": "the scan it stored"},
        "detail": {"type": "string", "description": "what went wrong, if anything"},
    },
    "required": ["due", "started", "finished", "status", "scan", "detail"],
}
_SCHEDULE = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "cron": {"type": "string", "description": "five-field cron expression"},
        "timezone": {"type": "string", "description": "IANA time zone of the cron"},
        "inventory": {"type": "string"},
        "profile": {"type": ["string", "null"], "description": "null: the inventory's"},
        "vantages": {"type": "array", "items": {"type": "string"}},
        "next_run": {"type": "string", "format": "date-time"},
        "last_run": {
            "oneOf": [{"$ref": "#/components/schemas/ScheduleRun"}, {"type": "null"}],
            "description": "the latest run that started (not a skipped one); null before any",
        },
        "recent_runs": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ScheduleRun"},
            "description": "newest first",
        },
    },
    "required": [
        "name",
        "cron",
        "timezone",
        "inventory",
        "vantages",
        "next_run",
        "last_run",
        "recent_runs",
    ],
}


_NULLABLE_STR = {"type": ["string", "null"]}
_SCAN_ROW = {
    "type": "object",
    "description": "one stored scan, as `auditor history --json` lists it (an agency's "
    "account: without `findings` and `inventory`, which are the whole scan's)",
    "properties": {
        "id": {"type": "integer"},
        "started": {"type": "string"},
        "finished": _NULLABLE_STR,
        "status": {"type": "string", "description": "complete, running, interrupted, failed"},
        "kind": {"type": "string", "enum": ["scan", "evaluation", "gate"]},
        "source_scan": {"type": ["integer", "null"]},
        "profile": {"type": "string"},
        "inventory_name": {"type": "string"},
        "inventory": {"type": "string", "description": "the inventory file (admins only)"},
        "findings": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "findings per status (admins only)",
        },
    },
    "required": ["id", "started", "status", "kind", "profile", "inventory_name"],
}
_TREND = {
    "type": "object",
    "description": "one agency's score per scan of the latest scan's inventory, all scored "
    "with one profile (an agency's account: its own agency only)",
    "properties": {
        "id": {"type": "string"},
        "points": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "scan": {"type": "integer"},
                    "started": {"type": "string"},
                    "score": {"type": ["number", "null"]},
                    "kpi": _NULLABLE_STR,
                },
                "required": ["scan", "started", "score", "kpi"],
            },
        },
    },
    "required": ["id", "points"],
}
_KINDS = ["regression", "improvement", "changed", "added", "removed"]
_CHANGE = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": _KINDS},
        "target_kind": {"type": "string", "enum": ["host", "zone"]},
        "target": {"type": "string"},
        "check": {"type": "string"},
        "address": _NULLABLE_STR,
        "before": _NULLABLE_STR,
        "after": _NULLABLE_STR,
        "message": {"type": "string"},
        "vantage": {"type": "string", "description": "only when the scans have vantages"},
    },
    "required": ["kind", "target_kind", "target", "check", "address", "before", "after"],
}


def _pair(kind: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"before": kind, "after": kind},
        "required": ["before", "after"],
    }


_DIFF_AGENCY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "score": _pair({"type": ["number", "null"]}),
        "grade": _pair(_NULLABLE_STR),
        "coverage": _pair({"type": ["number", "null"]}),
        "insufficient_data": _pair({"type": "boolean"}),
        "kpi": _pair(_NULLABLE_STR),
        "requirements": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "target_kind": {"type": "string"},
                    "target": {"type": "string"},
                    "requirement": {"type": "string"},
                    "before": _NULLABLE_STR,
                    "after": _NULLABLE_STR,
                },
                "required": ["target_kind", "target", "requirement", "before", "after"],
            },
        },
        "changes": {"type": "array", "items": {"$ref": "#/components/schemas/Change"}},
    },
    "required": ["id", "name", "score", "grade", "kpi", "requirements", "changes"],
}
_DIFF = {
    "type": "object",
    "description": "what `auditor diff --json` prints, with the two scans and the profile "
    "both were scored with; an agency's account: its own row and the changes of its own "
    "hosts and zones only (the summary counts those)",
    "properties": {
        "scans": {
            "type": "object",
            "properties": {
                "from": {"$ref": "#/components/schemas/Scan"},
                "to": {"$ref": "#/components/schemas/Scan"},
            },
            "required": ["from", "to"],
        },
        "profile": {"type": "string"},
        "from": {"type": "integer"},
        "to": {"type": "integer"},
        "summary": {
            "type": "object",
            "properties": {k: {"type": "integer"} for k in _KINDS},
            "required": _KINDS,
        },
        "agencies": {
            "type": "array",
            "description": "the agencies with a change",
            "items": {"$ref": "#/components/schemas/DiffAgency"},
        },
        "changes": {"type": "array", "items": {"$ref": "#/components/schemas/Change"}},
        "vantages": {
            "type": "object",
            "properties": {
                "compared": {"type": "array", "items": {"type": "string"}},
                "only_before": {"type": "array", "items": {"type": "string"}},
                "only_after": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "required": ["scans", "profile", "from", "to", "summary", "agencies", "changes"],
}


def _target(kind: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "scan": {"$ref": "#/components/schemas/Scan"},
            kind: {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "agencies": {"type": "array", "items": {"type": "string"}},
                    "findings": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Finding"},
                    },
                    "observation": {"type": "object", "description": "what the scanner saw"},
                },
                "required": ["name", "agencies", "findings", "observation"],
            },
        },
        "required": ["scan", kind],
    }


def _json(schema: dict[str, Any], what: str) -> dict[str, Any]:
    return {"description": what, "content": {"application/json": {"schema": schema}}}


_DENIED = {
    "401": _json(
        {"$ref": "#/components/schemas/Error"},
        "no valid credentials (no session and no token, a revoked token, a disabled user)",
    ),
    "404": _json(
        {"$ref": "#/components/schemas/Error"},
        "no such name, or not the caller's: the same answer for both",
    ),
}


def _detail(summary: str, param: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": [
                {"name": param, "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"200": _json(schema, "found, and the caller's"), **_DENIED},
        }
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "IPv6 government auditor dashboard API",
            "version": f"v1 (auditor {__version__})",
            "description": (
                "Read-only results of the store's latest complete scan, its history and the "
                "changes between scans. Admins see every "
                "agency; an agency's account its own agency, hosts and zones; without "
                "credentials, the ranked summary only (GET /api/v1/agencies)."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}, {}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token printed by `auditor users token NAME`",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "auditor_session"},
            },
            "schemas": {
                "Error": _ERROR,
                "Scan": _SCAN,
                "AgencySummary": _SUMMARY,
                "Finding": _FINDING,
                "ScanRow": _SCAN_ROW,
                "Trend": _TREND,
                "Change": _CHANGE,
                "DiffAgency": _DIFF_AGENCY,
                "Diff": _DIFF,
                "Schedule": _SCHEDULE,
                "ScheduleRun": _RUN,
            },
        },
        "paths": {
            "/agencies": {
                "get": {
                    "summary": "the ranked summary of every agency (public)",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "scan": {"$ref": "#/components/schemas/Scan"},
                                    "agencies": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/AgencySummary"},
                                    },
                                },
                                "required": ["scan", "agencies"],
                            },
                            "ranked, best first",
                        ),
                        "401": _DENIED["401"],
                    },
                }
            },
            "/agencies/{id}": _detail(
                "one agency: score, grade, KPI, every requirement result, waivers, trend",
                "id",
                {
                    "type": "object",
                    "properties": {
                        "scan": {"$ref": "#/components/schemas/Scan"},
                        "agency": {"type": "object"},
                    },
                    "required": ["scan", "agency"],
                },
            ),
            "/hosts/{name}": _detail("one host: findings with evidence", "name", _target("host")),
            "/zones/{name}": _detail("one zone: findings with evidence", "name", _target("zone")),
            "/paths/{name}": _detail(
                "one department path (name: host/path, e.g. www.example.gov.vn/sonoivu; the "
                "slashes may be sent as they are): findings with evidence",
                "name",
                _target("path"),
            ),
            "/export.xlsx": {
                "get": {
                    "summary": (
                        "the Excel workbook of what the caller may see: an admin every sheet "
                        "and agency, an agency its own agency's rows, the public the ranked "
                        "summary sheet alone"
                    ),
                    "parameters": [
                        {
                            "name": "agency",
                            "in": "query",
                            "required": False,
                            "description": "the detail sheets of this agency only (the "
                            "caller's own, or any for an admin; 401 for the public)",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "lang",
                            "in": "query",
                            "required": False,
                            "description": "the headers' language (default: Accept-Language,"
                            " else Vietnamese)",
                            "schema": {"type": "string", "enum": ["vi", "en"]},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the workbook (Content-Disposition: attachment)",
                            "content": {
                                XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}
                            },
                        },
                        **_DENIED,
                    },
                }
            },
            "/schedules": {
                "get": {
                    "summary": "the scan schedules, their next and last runs (admin only)",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "runner": {
                                        "type": "string",
                                        "enum": ["embedded", "external"],
                                        "description": "embedded: this server runs them "
                                        "(auditor serve --scheduler); external: another "
                                        "process does (auditor beat)",
                                    },
                                    "schedules": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Schedule"},
                                    },
                                },
                                "required": ["runner", "schedules"],
                            },
                            "every schedule of the schedule file",
                        ),
                        **_DENIED,
                    },
                }
            },
            "/scans": {
                "get": {
                    "summary": "the stored scans and the score trend per agency "
                    "(an agency's account: its own)",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "scan": {"$ref": "#/components/schemas/Scan"},
                                    "scans": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/ScanRow"},
                                    },
                                    "older": {
                                        "type": "integer",
                                        "description": "earlier scans not listed (an "
                                        "admin's list holds the latest 60)",
                                    },
                                    "trend": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Trend"},
                                    },
                                },
                                "required": ["scan", "scans", "older", "trend"],
                            },
                            "oldest first",
                        ),
                        "401": _DENIED["401"],
                    },
                }
            },
            "/diff": {
                "get": {
                    "summary": "the changes between two complete scans (default: the latest "
                    "and the one before it of the same inventory)",
                    "parameters": [
                        {
                            "name": name,
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1},
                            "description": what,
                        }
                        for name, what in (
                            ("from", "the earlier scan (default: the one before `to`)"),
                            ("to", "the later scan (default: the latest complete scan)"),
                        )
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Diff"}, "the changes"),
                        "401": _DENIED["401"],
                        "404": _json(
                            {"$ref": "#/components/schemas/Error"},
                            "no such complete scan, not one of the caller's agency, or no "
                            "earlier scan to compare with",
                        ),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "this document",
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
    }
