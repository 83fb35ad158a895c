"""Loaded by schemathesis (SCHEMATHESIS_HOOKS) when it fuzzes the live server: how to send an
NDJSON body, a media type it does not know by itself, and the rules of the moment and of the
company's records that no JSON Schema states."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import schemathesis

from roles.permissions import ADMIN_ROLE, BUILTIN_ROLES


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass")
    return json.dumps(value).encode() + b"\n"


# Rules the document cannot state because they depend on the moment or on the company's
# records; a request generated from the document is brought within them before it is sent,
# the way a client reads them from the descriptions. Positive cases only: the negative ones
# are meant to be refused.
DAY = timedelta(days=1)


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    method, path, body = case.method.upper(), case.path, case.body
    if method == "DELETE" and path.endswith("/tokens/{token_id}") and str(
            case.path_parameters.get("token_id")) == os.environ.get("FUZZ_TOKEN_ID"):
        case.path_parameters["token_id"] = 10**9  # not the token the fuzzing runs with
    if not isinstance(body, dict):
        return
    if path.endswith("/tokens") and isinstance(body.get("expires_at"), str):
        try:  # "in the future", as its description says
            expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        except ValueError:
            return
        if expires.tzinfo is not None and expires <= datetime.now(UTC) + DAY:
            body["expires_at"] = (datetime.now(UTC) + DAY * 30).isoformat()
    elif path.endswith("/users") and body.get("roles"):  # roles of the company, by name
        body["roles"] = [ADMIN_ROLE]
    elif "/roles" in path and isinstance(body.get("name"), str) and \
            body["name"].strip().lower() in {r.lower() for r in BUILTIN_ROLES}:
        body["name"] = "custom " + body["name"].strip()  # built-in names are taken
    elif path.endswith("/users/{user_id}/roles"):  # a role of the company
        case.body = {"role": ADMIN_ROLE}
    elif path.endswith("/sso"):
        if isinstance(body.get("role_mapping"), dict):
            body["role_mapping"] = {f"group {n}": [ADMIN_ROLE]
                                    for n, _ in enumerate(body["role_mapping"])}
        if body.get("enabled") is True and not body.get("client_secret"):
            body["client_secret"] = "fuzz secret"  # unless one is stored  # noqa: S105
    elif path.endswith("/servers/test") and not body.get("password"):
        body["password"] = "fuzz password"  # unless one is stored  # noqa: S105
    elif "/tasks" in path:
        options, recipients = body.get("options"), body.get("recipients")
        if isinstance(options, dict) and options.get("org_unit_ids"):  # org units ingested
            options["org_unit_ids"] = []
        server = recipients.get("server") if isinstance(recipients, dict) else None
        if isinstance(server, dict) and server and not server.get("password"):
            server["password"] = "fuzz password"  # unless one is stored  # noqa: S105
