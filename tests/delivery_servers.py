"""Real servers for delivery tests, on loopback: FTP and FTPS (pyftpdlib), SFTP (asyncssh),
SOCKS5 and HTTP CONNECT proxies (pproxy). Import the fixtures into a test module."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler, TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from jobs.embedded_redis import free_port

USER, SECRET = "uploader", "s3cret-Pa55word!"
HOST = "127.0.0.1"


@dataclass
class Faults:
    """Faults a test turns on: the server drops the connection after this many bytes."""

    drop_after: int | None = None
    drops: int = 0


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port}")


# --- TLS certificates ------------------------------------------------------------------------

def make_ca_and_cert(directory: Path, name: str = "Test CA") -> tuple[Path, Path]:
    """A CA (its PEM to trust) and a server certificate for 127.0.0.1 signed by it (cert+key
    PEM for the server)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, server_file = directory / "ca.pem", directory / "server.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return ca_file, server_file


# --- FTP / FTPS ------------------------------------------------------------------------------

@dataclass
class Ftp:
    port: int
    root: Path
    tls: bool
    faults: Faults
    ca_file: Path | None = None
    server: FTPServer | None = None
    thread: threading.Thread | None = None

    def files(self, sub: str = "in") -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in (self.root / sub).iterdir()}

    def stop(self) -> None:
        self.server.close_all()
        self.thread.join(5)


def start_ftp(root: Path, tls: bool = False, port: int | None = None,
              cert_dir: Path | None = None) -> Ftp:
    (root / "in").mkdir(parents=True, exist_ok=True)
    faults = Faults()
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, SECRET, str(root), perm="elradfmwMT")

    base_dtp = TLS_DTPHandler if tls else DTPHandler

    class Dropping(base_dtp):
        def handle_read(self):
            super().handle_read()
            if faults.drop_after is not None and self.tot_bytes_received > faults.drop_after:
                faults.drops += 1
                faults.drop_after = None
                self.cmd_channel.close()  # control and data connection, mid-transfer

        if not tls:  # plain DTPHandler binds its own handle_read as handle_read_event
            handle_read_event = handle_read

    attrs = {"authorizer": authorizer, "dtp_handler": Dropping, "banner": "herald test ftpd",
             "timeout": 30}
    ca_file = None
    if tls:
        ca_file, server_pem = make_ca_and_cert(cert_dir or root.parent / "certs")
        attrs.update(certfile=str(server_pem), tls_control_required=True,
                     tls_data_required=True)
    handler = type("Handler", (TLS_FTPHandler if tls else FTPHandler,), attrs)
    server = FTPServer((HOST, port or free_port()), handler, ioloop=IOLoop())  # its own loop
    port = server.address[1]
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"timeout": 0.2, "handle_exit": False}, daemon=True)
    thread.start()
    ftp = Ftp(port=port, root=root, tls=tls, faults=faults, ca_file=ca_file,
              server=server, thread=thread)
    wait_port(ftp.port)
    return ftp


@pytest.fixture
def ftp_server(tmp_path):
    ftp = start_ftp(tmp_path / "ftp")
    yield ftp
    ftp.stop()


@pytest.fixture
def ftps_server(tmp_path, app):
    ftp = start_ftp(tmp_path / "ftps", tls=True, cert_dir=tmp_path / "certs")
    app.config["FTPS_CA_FILE"] = str(ftp.ca_file)
    yield ftp
    ftp.stop()


# --- SFTP ------------------------------------------------------------------------------------

class _Auth(asyncssh.SSHServer):
    connections: set  # set per server in start_sftp

    def connection_made(self, conn):
        self.connections.add(conn)
        self._conn = conn

    def connection_lost(self, exc):
        self.connections.discard(self._conn)

    def begin_auth(self, username):
        return True

    def password_auth_supported(self):
        return True

    def validate_password(self, username, password):
        return username == USER and password == SECRET


@dataclass
class Sftp:
    port: int
    root: Path
    faults: Faults
    key: asyncssh.SSHKey
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    acceptor: object = None
    thread: threading.Thread | None = None
    connections: set = field(default_factory=set)

    @property
    def fingerprint(self) -> str:
        return self.key.get_fingerprint("sha256")

    def files(self, sub: str = "in") -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in (self.root / sub).iterdir()}

    def stop(self) -> None:
        if self.loop.is_closed():
            return

        async def close():
            self.acceptor.close()
            await self.acceptor.wait_closed()
            for conn in list(self.connections):
                conn.close()
                await conn.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def start_sftp(root: Path, port: int | None = None, key=None) -> Sftp:
    (root / "in").mkdir(parents=True, exist_ok=True)
    faults = Faults()
    server = Sftp(port=port or free_port(), root=root, faults=faults,
                  key=key or asyncssh.generate_private_key("ssh-ed25519"))

    class Files(asyncssh.SFTPServer):
        def __init__(self, chan):
            super().__init__(chan, chroot=str(root))

        def write(self, file_obj, offset, data):
            if faults.drop_after is not None and offset + len(data) > faults.drop_after:
                faults.drops += 1
                faults.drop_after = None
                self.connection.abort()  # the connection drops mid-transfer
                return None
            return super().write(file_obj, offset, data)

    Auth = type("Auth", (_Auth,), {"connections": server.connections})
    started = threading.Event()

    def serve():
        asyncio.set_event_loop(server.loop)
        server.acceptor = server.loop.run_until_complete(asyncssh.listen(
            HOST, server.port, server_host_keys=[server.key], server_factory=Auth,
            sftp_factory=Files, allow_scp=False))
        started.set()
        server.loop.run_forever()

    server.thread = threading.Thread(target=serve, daemon=True)
    server.thread.start()
    started.wait(10)
    return server


@pytest.fixture
def sftp_server(tmp_path):
    sftp = start_sftp(tmp_path / "sftp")
    yield sftp
    sftp.stop()


# --- proxies ---------------------------------------------------------------------------------

@dataclass
class ProxyServer:
    type: str
    port: int
    username: str | None
    password: str | None
    process: subprocess.Popen

    def settings(self, **override) -> dict:
        return {"type": self.type, "host": HOST, "port": self.port, "username": self.username,
                "password": self.password, **override}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_proxy(kind: str, username: str | None = None, password: str | None = None
                ) -> ProxyServer:
    """A real proxy (pproxy), in its own process: socks5 or http (CONNECT)."""
    port = free_port()
    uri = f"{kind}://{HOST}:{port}" + (f"#{username}:{password}" if username else "")
    process = subprocess.Popen([sys.executable, "-m", "pproxy", "-l", uri, "--auth", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wait_port(port)
    return ProxyServer(kind, port, username, password, process)


# --- a report type that may be uploaded ------------------------------------------------------

@pytest.fixture
def server_report_type(monkeypatch):
    """A stand-in for native_connection_status (the real type lands with the report types):
    a snapshot, server upload allowed; ``rows_per_channel`` sets the CSV's size."""
    from jobs.reports import registry
    from jobs.reports.base import ReportType

    class StandIn(ReportType):
        key = "native_connection_status"
        name = "Native channel connection status report (Health check report)"
        channels = ("whatsapp", "imessage")
        columns = ("channel", "phone_number", "status")
        server_upload = True
        snapshot = True
        rows_per_channel = 3

        def statement(self, ctx):
            import sqlalchemy as sa

            numbers = sa.select(sa.literal(0).label("i")).cte("numbers", recursive=True)
            numbers = numbers.union_all(sa.select(numbers.c.i + 1)
                                        .where(numbers.c.i + 1 < self.rows_per_channel))
            channels = sa.union_all(*(sa.select(sa.literal(c, sa.String).label("channel"))
                                      for c in ctx.channels)).subquery("channels")
            number = sa.literal("+44770090").concat(  # +44770090 and i in four digits
                sa.func.substr(sa.cast(10000 + numbers.c.i, sa.String), 2))
            return (sa.select(channels.c.channel, number, sa.literal("connected"))
                    .select_from(channels.join(numbers, sa.true()))
                    .order_by(channels.c.channel, numbers.c.i))

    stand_in = StandIn()
    monkeypatch.setitem(registry.REPORT_TYPES, stand_in.key, stand_in)
    return stand_in
