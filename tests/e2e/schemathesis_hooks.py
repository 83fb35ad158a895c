"""Loaded by schemathesis (SCHEMATHESIS_HOOKS) when it fuzzes the live server: how to send an
NDJSON body, a media type it does not know by itself."""

from __future__ import annotations

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass")
    return json.dumps(value).encode() + b"\n"
