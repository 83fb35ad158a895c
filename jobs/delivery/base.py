"""The Destination interface: where a run's report goes, and what it needs to get there.

A destination declares its settings (and which are secret); ``send`` delivers one run to one
recipient and returns a receipt (a Message-ID, a remote path), or raises DeliveryFailed with a
message fit for the delivery row: what failed, never a secret.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from webapp.models import Delivery, Run


class DeliveryFailed(RuntimeError):
    """A delivery attempt failed; the message is recorded on the delivery row as it is."""


class InvalidSettings(ValueError):
    """A destination's settings are invalid; ``fields`` maps each field to its message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class Timeouts:
    connect: float = 30.0  # to connect, and the longest wait of any one operation
    transfer: float = 300.0  # the whole upload


@dataclass(frozen=True)
class ProxySettings:
    type: str  # socks5 | http
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"{'SOCKS5' if self.type == 'socks5' else 'HTTP CONNECT'} proxy " \
               f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ServerSettings:
    """An upload server with its secrets in plain text: only ever held in memory."""

    transport: str  # sftp | ftp | ftps
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    directory: str
    host_key_fingerprint: str | None = None
    proxy: ProxySettings | None = None

    @property
    def target(self) -> str:
        """The delivery row's target: where the file goes, without any secret."""
        directory = self.directory if self.directory.startswith("/") else "/" + self.directory
        return f"{self.transport}://{self.username}@{self.host}:{self.port}{directory}"

    @property
    def secrets(self) -> list[str]:
        values = [self.password, self.proxy.password if self.proxy else None]
        return [v for v in values if v]


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest class

    ok: bool
    message: str
    fingerprint: str | None = None  # SFTP: the key the server presented


@dataclass
class SendContext:
    run: Run
    delivery: Delivery
    file_path: str
    server: ServerSettings | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)


class Destination:
    key: str = ""
    kind: str = "server"  # the delivery row's kind: email | server
    transports: tuple[str, ...] = ()

    def send(self, ctx: SendContext) -> str | None:
        raise NotImplementedError

    def test(self, server: ServerSettings, timeouts: Timeouts) -> TestResult:
        raise NotImplementedError


def scrub(text: str, secrets: list[str]) -> str:
    """Defence in depth: no secret reaches a delivery row, a log line or a page."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "••••")
    return text



def describe_error(exc: BaseException) -> str:
    """A transport error in words for the delivery row (no secret is ever in one)."""
    if isinstance(exc, EOFError):
        return "the server closed the connection"
    if isinstance(exc, TimeoutError):
        return str(exc) or "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
