"""Where Herald may connect on a user's behalf (upload servers, their proxies, "Test
connection", an SSO issuer): never to a loopback, private, link-local, multicast or otherwise
non-public address unless ``ALLOW_PRIVATE_TARGETS`` is set (docs/product.md §9). Otherwise a
user who may edit tasks could scan and reach the machines only Herald can reach.

A host name is resolved once, every address it has is checked, and the connection goes to a
checked address (a name that resolves differently a moment later gains nothing).
"""

from __future__ import annotations

import ipaddress
import socket

from flask import current_app, has_app_context

from .base import DeliveryFailed

LOCAL_NAMES = ("localhost", "localhost.localdomain")


class PrivateTarget(DeliveryFailed):
    """The address is not a public one and private targets are not allowed."""


def allowed() -> bool:
    return bool(has_app_context() and current_app.config.get("ALLOW_PRIVATE_TARGETS"))


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def refusal(host: str, address: str | None = None) -> str:
    shown = host if address in (None, host) else f"{host} ({address})"
    return (f"{shown} is a loopback, private, link-local or multicast address: Herald does not "
            f"connect there (ALLOW_PRIVATE_TARGETS is off).")


def literal_refusal(host: str) -> str | None:
    """The refusal for a host that is an IP literal or a local name, judged without DNS (for
    validating settings); None when it may be public."""
    if allowed():
        return None
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return refusal(host)
    try:
        return None if is_public(name) else refusal(host)
    except ValueError:  # a name: judged when it is resolved
        return None


def resolve(host: str, port: int) -> list[tuple]:
    """getaddrinfo's answers for host:port, every one checked; PrivateTarget otherwise."""
    refused = literal_refusal(host)
    if refused:
        raise PrivateTarget(refused)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DeliveryFailed(f"Could not connect to {host}:{port}: cannot resolve the host "
                             f"name ({getattr(exc, 'strerror', None) or exc})") from None
    if not allowed():
        for info in infos:
            if not is_public(info[4][0]):
                raise PrivateTarget(refusal(host, info[4][0]))
    return infos


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """socket.create_connection, to a checked address only."""
    last: OSError | None = None
    for family, kind, proto, _name, address in resolve(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"no address for {host}")


def check_public_name(host: str) -> str | None:
    """For settings saved now and used later (an SSO issuer): the refusal when the name is
    local or resolves to a non-public address now, else None."""
    if allowed():
        return None
    try:
        resolve(host, 443)
    except PrivateTarget as exc:
        return str(exc)
    except DeliveryFailed:
        return None  # unresolvable today: the connection will say so
    return None
