"""Upload to an FTP server, in plain FTP or explicit FTPS (AUTH TLS, protected data channel).

Passive mode only, so that it works through a proxy: every connection (control and data) is
opened by proxy.open_connection, and the data address is the server's host name, never the
address in the PASV answer (which a server behind NAT gets wrong).
"""

from __future__ import annotations

import ftplib
import socket
import ssl
import time

from flask import current_app

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

BLOCK = 64 * 1024


class _Client(ftplib.FTP):
    server: ServerSettings
    timeouts: Timeouts

    def connect(self, host="", port=0, timeout=-999, source_address=None):  # noqa: ARG002
        self.host, self.port = self.server.host, self.server.port
        self.sock = open_connection(self.host, self.port, self.server.proxy,
                                    self.timeouts.connect)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def makepasv(self):
        if self.sock.family == socket.AF_INET6 and self.server.proxy is None:
            _host, port = ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
        else:
            _untrusted, port = ftplib.parse227(self.sendcmd("PASV"))
        return self.server.host, port

    def ntransfercmd(self, cmd, rest=None):
        host, port = self.makepasv()
        conn = open_connection(host, port, self.server.proxy, self.timeouts.connect)
        try:
            if rest is not None:
                self.sendcmd(f"REST {rest}")
            resp = self.sendcmd(cmd)
            if resp[0] == "2":
                resp = self.getresp()
            if resp[0] != "1":
                raise ftplib.error_reply(resp)
        except BaseException:
            conn.close()
            raise
        return self._wrap_data(conn), None

    def _wrap_data(self, conn):
        return conn


class _TLSClient(_Client, ftplib.FTP_TLS):
    def _wrap_data(self, conn):
        if self._prot_p:  # reuse the control connection's TLS session, as servers may demand
            return self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn

    def ntransfercmd(self, cmd, rest=None):
        return _Client.ntransfercmd(self, cmd, rest)


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca_file = current_app.config.get("FTPS_CA_FILE")
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class FtpDestination(Destination):
    key = "ftp"
    transports = ("ftp", "ftps")

    def _open(self, server: ServerSettings, timeouts: Timeouts) -> ftplib.FTP:
        if server.transport == "ftps":
            client = _TLSClient(context=_tls_context(), timeout=timeouts.connect)
        else:
            client = _Client(timeout=timeouts.connect)
        client.server, client.timeouts = server, timeouts
        try:
            client.connect()
        except (OSError, EOFError, ftplib.Error) as exc:
            client.close()
            raise DeliveryFailed(f"Connecting to {server.host}:{server.port} failed: "
                                 f"{describe_error(exc)}") from None
        if server.transport == "ftps":
            try:
                client.auth()
            except ftplib.Error as exc:
                client.close()
                raise DeliveryFailed(f"{server.host}:{server.port} refused TLS (AUTH TLS): "
                                     f"{exc}") from None
            except (OSError, EOFError) as exc:
                client.close()
                raise DeliveryFailed(f"TLS with {server.host}:{server.port} failed: "
                                     f"{describe_error(exc)}") from None
        try:
            client.login(server.username, server.password)
        except ftplib.error_perm as exc:
            client.close()
            raise DeliveryFailed(f"Login as {server.username!r} refused: {exc}") from None
        except (OSError, EOFError, ftplib.Error) as exc:
            client.close()
            raise DeliveryFailed(f"Login as {server.username!r} failed: "
                                 f"{describe_error(exc)}") from None
        if server.transport == "ftps":
            try:
                client.prot_p()  # the data connections are encrypted too
            except (OSError, EOFError, ftplib.Error) as exc:
                client.close()
                raise DeliveryFailed(f"{server.host}:{server.port} refused to protect the data "
                                     f"connection (PROT P): {describe_error(exc)}") from None
        try:
            client.cwd(server.directory)
        except (OSError, EOFError, ftplib.Error) as exc:
            client.close()
            raise DeliveryFailed(f"Remote directory {server.directory!r}: "
                                 f"{describe_error(exc)}") from None
        return client

    def test(self, server: ServerSettings, timeouts: Timeouts) -> TestResult:
        try:
            client = self._open(server, timeouts)
        except DeliveryFailed as exc:
            return TestResult(False, str(exc))
        welcome = client.getwelcome()
        _hang_up(client)
        secure = " over TLS" if server.transport == "ftps" else ""
        return TestResult(True, f"Connected{secure} to {server.host}:{server.port} as "
                                f"{server.username!r}; {server.directory!r} is reachable. "
                                f"Server: {welcome}")

    def send(self, ctx: SendContext) -> str:
        server, name = ctx.server, ctx.run.file_name
        temp = f"{name}.part"
        deadline = time.monotonic() + ctx.timeouts.transfer
        client = self._open(server, ctx.timeouts)

        def check_deadline(_block: bytes) -> None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the upload took longer than {ctx.timeouts.transfer:g} s")

        try:
            with open(ctx.file_path, "rb") as fp:
                client.storbinary(f"STOR {temp}", fp, BLOCK, callback=check_deadline)
            _rename(client, temp, name)
        except (OSError, EOFError, ftplib.Error) as exc:
            client.close()
            raise DeliveryFailed(f"Upload of {name} to {server.host}:{server.port}"
                                 f"{server.directory} failed: {describe_error(exc)}") from None
        _hang_up(client)  # the file is complete and renamed: delivered, whatever QUIT says
        return f"{server.directory.rstrip('/')}/{name}"


def _hang_up(client: ftplib.FTP) -> None:
    try:
        client.quit()
    except (OSError, EOFError, ftplib.Error):
        client.close()


def _rename(client: ftplib.FTP, temp: str, name: str) -> None:
    try:
        client.rename(temp, name)
    except ftplib.error_perm:  # some servers refuse to rename over an existing file
        client.delete(name)
        client.rename(temp, name)
