"""The destinations Herald delivers to, in one explicit dict."""

from __future__ import annotations

from .base import Destination
from .email import EmailDestination
from .ftp import FtpDestination
from .sftp import SftpDestination

DESTINATIONS: dict[str, Destination] = {
    d.key: d for d in (EmailDestination(), FtpDestination(), SftpDestination())
}
TRANSPORTS = {t: d for d in DESTINATIONS.values() for t in d.transports}  # sftp, ftp, ftps


def get(key: str) -> Destination | None:
    return DESTINATIONS.get(key)


def for_transport(transport: str) -> Destination:
    return TRANSPORTS[transport]
