"""A task's upload server settings: validation, secrets at rest, connection tests.

Stored in ``Task.server`` as JSON whose secret settings (declared by the destinations) are
Fernet tokens (webapp/crypto.py). Invalid settings raise InvalidSettings with a message per
field; the services turn it into their InputError. Secrets are write-only (the API's Server
schema never dumps them), and an edit that leaves a password out (or empty) keeps the stored
one — only for the very endpoint it was typed for (`endpoint`); anything else needs it typed
again.
"""

from __future__ import annotations

import re

from flask import current_app

from webapp import crypto

from . import targets
from .base import InvalidSettings, ProxySettings, ServerSettings, TestResult, Timeouts, scrub
from .registry import TRANSPORTS
from .registry import for_transport as registry_for

DEFAULT_PORTS = {"sftp": 22, "ftp": 21, "ftps": 21}
PROXY_TYPES = ("socks5", "http")
DEFAULT_PROXY_PORTS = {"socks5": 1080, "http": 8080}
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-:]*[A-Za-z0-9])?$")
FINGERPRINT_RE = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


def _text(raw: dict, key: str, field: str, label: str, errors: dict, required: bool = True,
          limit: int = 255) -> str | None:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[field] = f"{label} is required."
        return None
    if not isinstance(value, str):
        errors[field] = f"{label} must be a string."
        return None
    value = value.strip()
    if len(value) > limit or any(ord(c) < 32 for c in value):
        errors[field] = f"{label} must be at most {limit} printable characters."
        return None
    return value


def _host(raw: dict, field: str, label: str, errors: dict) -> str | None:
    host = _text(raw, "host", field, label, errors)
    if host is not None and not HOST_RE.match(host):
        errors[field] = f"{label} must be a host name or an IP address (no scheme, no path)."
        return None
    refused = targets.literal_refusal(host) if host is not None else None
    if refused:
        errors[field] = f"{label}: {refused}"
        return None
    return host


def _port(raw: dict, field: str, default: int, errors: dict) -> int:
    value = raw.get("port")
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        errors[field] = "Port must be a whole number from 1 to 65535."
        return default
    return value


def _secret(raw: dict, stored: dict | None, field: str, label: str, errors: dict,
            required: bool) -> str | None:
    """The new secret, encrypted; the stored one when left out; None when there is none."""
    value = raw.get("password")
    if value is not None and not isinstance(value, str):
        errors[field] = f"{label} must be a string."
        return None
    if value:
        if len(value) > 1024:
            errors[field] = f"{label} must be at most 1024 characters."
            return None
        return crypto.encrypt(value)
    if stored and stored.get("password"):
        return stored["password"]
    if required:
        errors[field] = f"{label} is required."
    return None


def validate(raw, stored: dict | None, prefix: str = "recipients.server",
             require_fingerprint: bool = True) -> dict | None:
    """The server object to store (secrets encrypted), or None for "no server".

    Raise InvalidSettings with a message per field, named ``{prefix}.{field}``.
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidSettings({prefix: "Server must be an object (or null for no upload)."})
    errors: dict[str, str] = {}
    known = {"transport", "host", "port", "username", "password", "directory",
             "host_key_fingerprint", "proxy"}
    errors.update({f"{prefix}.{k}": "Unknown field." for k in sorted(set(raw) - known)})
    transport = raw.get("transport")
    if not isinstance(transport, str) or transport not in TRANSPORTS:
        errors[f"{prefix}.transport"] = "Transport must be one of sftp, ftp, ftps."
        transport = None
    server = {
        "transport": transport,
        "host": _host(raw, f"{prefix}.host", "Host", errors),
        "port": _port(raw, f"{prefix}.port", DEFAULT_PORTS.get(transport, 22), errors),
        "username": _text(raw, "username", f"{prefix}.username", "Username", errors,
                          limit=128),
        "password": None,
        "directory": _text(raw, "directory", f"{prefix}.directory", "Remote directory",
                           errors, limit=500),
        "host_key_fingerprint": None,
        "proxy": None,
    }
    if server["directory"] is not None and not server["directory"].startswith("/"):
        server["directory"] = "/" + server["directory"]
    if transport == "sftp":
        fingerprint = raw.get("host_key_fingerprint")
        if fingerprint in (None, ""):
            if require_fingerprint:
                errors[f"{prefix}.host_key_fingerprint"] = (
                    "Test the connection and confirm the server's host key (SHA256:…) before "
                    "saving: SFTP deliveries only go to the key you trust.")
        elif not isinstance(fingerprint, str) or not FINGERPRINT_RE.match(fingerprint.strip()):
            errors[f"{prefix}.host_key_fingerprint"] = (
                "Host key fingerprint must look like SHA256: followed by 43 characters, as "
                "Test connection shows it.")
        else:
            server["host_key_fingerprint"] = fingerprint.strip()
    server["proxy"] = _proxy(raw.get("proxy"), f"{prefix}.proxy", errors)
    # A stored password goes only where it was typed for: the same endpoint in every part.
    server["password"] = _secret(
        raw, stored if stored and endpoint(stored) == endpoint(server) else None,
        f"{prefix}.password", "Password", errors, required=True)
    proxy, stored_proxy = server["proxy"], (stored or {}).get("proxy")
    if proxy and proxy["username"]:
        same = stored_proxy is not None and _proxy_endpoint(stored_proxy) == _proxy_endpoint(proxy)
        proxy["password"] = _secret(raw["proxy"], stored_proxy if same else None,
                                    f"{prefix}.proxy.password", "Proxy password", errors,
                                    required=False)
    if errors:
        raise InvalidSettings(errors)
    return server


def _proxy_endpoint(proxy: dict | None) -> tuple | None:
    if not proxy:
        return None
    return tuple(proxy.get(k) for k in ("type", "host", "port", "username"))


def endpoint(server: dict) -> tuple:
    """Where a server's password goes: transport, host, port, user, pinned key and proxy.
    A stored secret is reused only when all of them are as they were when it was typed."""
    return (*(server.get(k) for k in ("transport", "host", "port", "username",
                                      "host_key_fingerprint")),
            _proxy_endpoint(server.get("proxy")))


def _proxy(raw, prefix: str, errors: dict) -> dict | None:
    """The proxy without its password (validate adds it once the endpoint is known)."""
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        errors[prefix] = "Proxy must be an object (or null for a direct connection)."
        return None
    unknown = sorted(set(raw) - {"type", "host", "port", "username", "password"})
    errors.update({f"{prefix}.{k}": "Unknown field." for k in unknown})
    kind = raw.get("type")
    if kind not in PROXY_TYPES:
        errors[f"{prefix}.type"] = "Proxy type must be socks5 or http (HTTP CONNECT)."
        kind = None
    username = _text(raw, "username", f"{prefix}.username", "Proxy username", errors,
                     required=False, limit=128)
    if raw.get("password") and not username:
        errors[f"{prefix}.username"] = "A proxy password needs a proxy username."
    return {"type": kind, "host": _host(raw, f"{prefix}.host", "Proxy host", errors),
            "port": _port(raw, f"{prefix}.port", DEFAULT_PROXY_PORTS.get(kind, 1080), errors),
            "username": username, "password": None}


def target(stored: dict) -> str:
    return settings(stored, decrypt=False).target


def settings(stored: dict, decrypt: bool = True) -> ServerSettings:
    """The stored server with its secrets decrypted, for a delivery or a connection test."""
    def reveal(value: str | None) -> str | None:
        return crypto.decrypt(value) if value and decrypt else None

    proxy = stored.get("proxy")
    return ServerSettings(
        transport=stored["transport"], host=stored["host"], port=stored["port"],
        username=stored["username"], password=reveal(stored.get("password")) or "",
        directory=stored["directory"], host_key_fingerprint=stored.get("host_key_fingerprint"),
        proxy=ProxySettings(type=proxy["type"], host=proxy["host"], port=proxy["port"],
                            username=proxy.get("username"),
                            password=reveal(proxy.get("password"))) if proxy else None)


def timeouts() -> Timeouts:
    """The connect and transfer timeouts configured for uploads and connection tests."""
    return Timeouts(connect=current_app.config["DELIVERY_CONNECT_TIMEOUT"],
                    transfer=current_app.config["DELIVERY_TRANSFER_TIMEOUT"])


def test_connection(raw, stored: dict | None, timeouts: Timeouts) -> TestResult:
    """Check settings before saving: connect (through the proxy), log in, open the directory;
    for SFTP, report the server's key fingerprint. Raise InvalidSettings for invalid settings."""
    return test_prepared(prepare_test(raw, stored), timeouts)


def prepare_test(raw, stored: dict | None) -> ServerSettings:
    """The settings a connection test uses (secrets decrypted); InvalidSettings if invalid."""
    server = validate(raw, stored, prefix="server", require_fingerprint=False)
    if server is None:
        raise InvalidSettings({"server": "Give the server's settings to test."})
    return settings(server)


def test_prepared(plain: ServerSettings, timeouts: Timeouts) -> TestResult:
    result = registry_for(plain.transport).test(plain, timeouts)
    return TestResult(result.ok, scrub(result.message, plain.secrets), result.fingerprint)
