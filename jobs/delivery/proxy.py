"""TCP connections to an upload server, directly or through a SOCKS5 / HTTP CONNECT proxy.

SOCKS5 is python-socks'. HTTP CONNECT is ours: python-socks reads the proxy's answer with one
recv, which swallows the first bytes of a server that speaks first (an FTP or SSH banner
arriving in the same packet); here the answer is read up to its blank line and no further.
"""

from __future__ import annotations

import base64
import socket

from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
from python_socks.sync import Proxy

from . import targets
from .base import DeliveryFailed, ProxySettings

PROXY_TYPES = {"socks5": ProxyType.SOCKS5}


def open_connection(host: str, port: int, proxy: ProxySettings | None,
                    timeout: float) -> socket.socket:
    """A connected socket to host:port, or DeliveryFailed saying which hop failed. Only public
    addresses, unless ALLOW_PRIVATE_TARGETS (jobs/delivery/targets.py): the proxy's, and the
    server's when Herald resolves it (through a proxy, a literal address or a local name)."""
    if proxy is None:
        try:
            return targets.connect(host, port, timeout)
        except TimeoutError:
            raise DeliveryFailed(f"Could not connect to {host}:{port}: timed out after "
                                 f"{timeout:g} s") from None
        except OSError as exc:
            raise DeliveryFailed(f"Could not connect to {host}:{port}: "
                                 f"{exc.strerror or exc}") from None
    refused = targets.literal_refusal(host)
    if refused:
        raise targets.PrivateTarget(refused)
    if proxy.type == "http":
        return _http_connect(host, port, proxy, timeout)
    proxy_address = targets.resolve(proxy.host, proxy.port)[0][4][0]
    client = Proxy(PROXY_TYPES[proxy.type], proxy_address, proxy.port,
                   username=proxy.username or None, password=proxy.password or None, rdns=True)
    try:
        sock = client.connect(host, port, timeout=timeout)
    except ProxyTimeoutError:
        raise DeliveryFailed(f"{proxy.label}: timed out after {timeout:g} s connecting to "
                             f"{host}:{port}") from None
    except ProxyConnectionError as exc:
        reason = exc.__cause__.strerror if isinstance(exc.__cause__, OSError) else None
        raise DeliveryFailed(f"Could not connect to {proxy.label}: {reason or exc}") from None
    except ProxyError as exc:  # the proxy answered, and refused
        raise DeliveryFailed(f"{proxy.label} refused the connection to {host}:{port}: "
                             f"{exc}") from None
    except OSError as exc:  # includes python_socks' ProxyConnectionError
        raise DeliveryFailed(f"{proxy.label}: {exc.strerror or exc}") from None
    sock.settimeout(timeout)
    return sock


MAX_HEADER = 16 * 1024


def _http_connect(host: str, port: int, proxy: ProxySettings, timeout: float) -> socket.socket:
    try:
        sock = targets.connect(proxy.host, proxy.port, timeout)
    except TimeoutError:
        raise DeliveryFailed(f"{proxy.label}: timed out after {timeout:g} s") from None
    except OSError as exc:
        raise DeliveryFailed(f"Could not connect to {proxy.label}: "
                             f"{exc.strerror or exc}") from None
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    if proxy.username:
        token = base64.b64encode(f"{proxy.username}:{proxy.password or ''}".encode()).decode()
        request += f"Proxy-Authorization: Basic {token}\r\n"
    try:
        sock.sendall((request + "\r\n").encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            byte = sock.recv(1)  # byte by byte: what follows the blank line is the server's
            if not byte:
                raise DeliveryFailed(f"{proxy.label} closed the connection instead of "
                                     f"connecting to {host}:{port}")
            head += byte
            if len(head) > MAX_HEADER:
                raise DeliveryFailed(f"{proxy.label} sent an oversized answer")
    except TimeoutError:
        sock.close()
        raise DeliveryFailed(f"{proxy.label}: timed out after {timeout:g} s connecting to "
                             f"{host}:{port}") from None
    except OSError as exc:
        sock.close()
        raise DeliveryFailed(f"{proxy.label}: {exc.strerror or exc}") from None
    except DeliveryFailed:
        sock.close()
        raise
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1").strip()
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or parts[1] != "200":
        sock.close()
        raise DeliveryFailed(f"{proxy.label} refused the connection to {host}:{port}: "
                             f"{' '.join(parts[1:]) or status_line}")
    return sock
