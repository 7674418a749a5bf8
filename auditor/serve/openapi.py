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
                "Read-only results of the store's latest complete scan. Admins see every "
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
            "/openapi.json": {
                "get": {
                    "summary": "this document",
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
    }
