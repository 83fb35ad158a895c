"""Upload to an SFTP server (paramiko), with the server's host key pinned.

"Test connection" shows the key's fingerprint (``SHA256:…``, as OpenSSH prints it); saving
the task pins it. A delivery compares the key before it authenticates: a server whose key
changed gets neither the password nor the file.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time

import paramiko

from .base import (
    DeliveryFailed,
    Destination,
    SendContext,
    ServerSettings,
    TestResult,
    Timeouts,
    describe_error,
)
from .proxy import open_connection

log = logging.getLogger(__name__)


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _Session:
    """An authenticated SFTP session in the remote directory; close() closes all."""

    def __init__(self) -> None:
        self.transport: paramiko.Transport | None = None
        self.sftp: paramiko.SFTPClient | None = None
        self.fingerprint: str | None = None  # known once the key exchange is done

    def open(self, server: ServerSettings, timeouts: Timeouts, pinned: str | None) -> None:
        sock = open_connection(server.host, server.port, server.proxy, timeouts.connect)
        where = f"{server.host}:{server.port}"
        try:
            self.transport = paramiko.Transport(sock)
            self.transport.banner_timeout = self.transport.auth_timeout = timeouts.connect
            self.transport.start_client(timeout=timeouts.connect)
            self.fingerprint = fingerprint(self.transport.get_remote_server_key())
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            sock.close()
            raise DeliveryFailed(
                f"SSH handshake with {where} failed: {describe_error(exc)}") from None
        if pinned is not None and self.fingerprint != pinned:
            self.close()
            raise DeliveryFailed(
                f"Host key changed: {where} presented {self.fingerprint}, but the task trusts "
                f"{pinned}. Nothing was sent. If the change is expected, test the connection "
                "and save the task to trust the new key.")
        try:
            self.transport.auth_password(server.username, server.password)
        except paramiko.AuthenticationException:
            self.close()
            raise DeliveryFailed(f"Authentication as {server.username!r} on {where} failed: "
                                 "wrong username or password") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise DeliveryFailed(f"Authentication as {server.username!r} on {where} failed: "
                                 f"{describe_error(exc)}") from None
        try:
            self.sftp = paramiko.SFTPClient.from_transport(self.transport)
            self.sftp.get_channel().settimeout(timeouts.connect)
            self.sftp.chdir(server.directory)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self.close()
            raise DeliveryFailed(f"Remote directory {server.directory!r}: "
                                 f"{describe_error(exc)}") from None

    def close(self) -> None:
        """Hang up. A connection that is already gone cannot fail this: the outcome of the
        attempt was decided (and is recorded) before."""
        for closeable in (self.sftp, self.transport):
            if closeable is not None:
                try:
                    closeable.close()
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    log.info("closing the SFTP session: %s", describe_error(exc))


class SftpDestination(Destination):
    key = "sftp"
    transports = ("sftp",)

    def test(self, server: ServerSettings, timeouts: Timeouts) -> TestResult:
        """Connect, authenticate and open the directory; report the server's key whatever the
        outcome (a changed key is reported, with the new one, so the admin can decide)."""
        session = _Session()
        try:
            session.open(server, timeouts, server.host_key_fingerprint)
        except DeliveryFailed as exc:
            return TestResult(False, str(exc), session.fingerprint)
        finally:
            session.close()
        return TestResult(True, f"Connected to {server.host}:{server.port} as "
                                f"{server.username!r}; {server.directory!r} is reachable.",
                          session.fingerprint)

    def send(self, ctx: SendContext) -> str:
        server, name = ctx.server, ctx.run.file_name
        if not server.host_key_fingerprint:
            raise DeliveryFailed("No host key is pinned for this server: test the connection "
                                 "and save the task to trust the server's key.")
        temp = f"{name}.part"
        deadline = time.monotonic() + ctx.timeouts.transfer
        session = _Session()
        session.open(server, ctx.timeouts, server.host_key_fingerprint)

        def check_deadline(_sent: int, _total: int) -> None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the upload took longer than {ctx.timeouts.transfer:g} s")

        try:
            with open(ctx.file_path, "rb") as fp:
                session.sftp.putfo(fp, temp, callback=check_deadline)
            try:
                session.sftp.posix_rename(temp, name)
            except OSError:  # a server without the posix-rename extension
                _replace(session.sftp, temp, name)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise DeliveryFailed(f"Upload of {name} to {server.host}:{server.port}"
                                 f"{server.directory} failed: {describe_error(exc)}") from None
        finally:
            session.close()
        return f"{server.directory.rstrip('/')}/{name}"


def _replace(sftp: paramiko.SFTPClient, temp: str, name: str) -> None:
    try:
        sftp.rename(temp, name)
    except OSError:
        sftp.remove(name)
        sftp.rename(temp, name)
