"""The rules of a shape that tie one field to another (a report type's channels, a schedule
kind's fields, what turning SSO on needs), stated in the OpenAPI document next to what the
fields' own schemas say, so that every request the document allows is one the API accepts.

They are built from the same tables the loading code judges by (the report registry, the
schedule rules, the SSO defaults), so the document and the validation cannot drift apart;
/api/v1/openapi.json merges them into the components named here (views/api/openapi.py)."""

from __future__ import annotations

from jobs import schedule as sched
from jobs.reports import registry

SERVER = {"$ref": "#/components/schemas/Server"}
NO_SERVER = {"type": "object", "nullable": True, "maxProperties": 0}  # null or {}: none
# The recipients a task may have at most (services/tasks.py holds the same number).
MAX_RECIPIENTS = 50
EMAILS = {"type": "array", "minItems": 1, "maxItems": MAX_RECIPIENTS,
          "items": {"type": "string", "format": "email"}}


def _upload_server() -> dict:
    """A server a task may save: SFTP needs the host key it will trust."""
    return {"allOf": [SERVER, {"oneOf": [
        {"properties": {"transport": {"enum": ["ftp", "ftps"]}}},
        {"properties": {"transport": {"enum": ["sftp"]},
                        "host_key_fingerprint": {"type": "string", "nullable": False}},
         "required": ["host_key_fingerprint"]}]}]}


def _task_variant(report) -> dict:
    if report.server_upload:
        recipients = {"anyOf": [
            {"properties": {"emails": EMAILS, "server": NO_SERVER}, "required": ["emails"]},
            {"properties": {"emails": {**EMAILS, "minItems": 0}, "server": _upload_server()},
             "required": ["server"]}]}
    else:  # email only
        recipients = {"properties": {"emails": EMAILS, "server": NO_SERVER},
                      "required": ["emails"]}
    return {"properties": {
        "report_type": {"enum": [report.key]},
        "channels": {"items": {"enum": list(report.channels)}},
        "recipients": recipients}}


def _schedule_variants() -> list[dict]:
    kind = lambda k: {"enum": [k]}  # noqa: E731
    return [
        {"properties": {"kind": kind("daily")}},
        {"properties": {"kind": kind("hourly"), "every": {"enum": list(sched.HOURLY_EVERY)}},
         "required": ["every"]},
        {"properties": {"kind": kind("weekly")}, "required": ["weekday"]},
        {"properties": {"kind": kind("monthly"), "every": {"enum": list(sched.MONTHLY_EVERY)}},
         "required": ["day"]},
    ]


def _sso_variants() -> list[dict]:
    """``enabled`` is asked for: left out, the stored value applies, with its rules."""
    given = {"type": "string", "minLength": 1, "pattern": r"\S"}
    return [
        {"properties": {"enabled": {"enum": [False]}}, "required": ["enabled"]},
        {"properties": {"enabled": {"enum": [True]}, "issuer": {"minLength": 1},
                        "client_id": given, "client_secret": given},
         "required": ["enabled", "issuer", "client_id"],
         "description": "turning SSO on needs the issuer, the client id and a client secret "
                        "(the stored one is kept when left out)"},
    ]


def _user_variants() -> list[dict]:
    return [{"properties": {"is_group": {"enum": [False]}}},
            {"properties": {"is_group": {"enum": [True]}, "roles": {"maxItems": 0},
                            "invite": {"enum": [False]}},
             "required": ["is_group"],
             "description": "a group email holds no role and is not invited (it cannot log in)"}]


def component_rules() -> dict[str, dict]:
    """Component name → the JSON Schema keywords to add to it."""
    return {
        "Task": {"oneOf": [_task_variant(r) for r in registry.creatable()]},
        "Schedule": {"oneOf": _schedule_variants()},
        "SsoSettings": {"oneOf": _sso_variants()},
        "UserInput": {"oneOf": _user_variants()},
        "AssignmentInput": {"anyOf": [{"required": ["role_id"]}, {"required": ["role"]}]},
    }
