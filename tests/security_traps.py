"""Servers an attacker would run to catch a password Herald should never send them: an FTP
server that records every USER/PASS it is given, and an HTTP CONNECT proxy that records the
request and then plays that FTP server itself (so an FTP password through it is caught)."""

from __future__ import annotations

import socket
import threading

from jobs.embedded_redis import free_port


class _Listener:
    """Listens on 127.0.0.1:port and hands each connection to ``_accepted``."""

    def __init__(self) -> None:
        self.port = free_port()
        self._sock = socket.create_server(("127.0.0.1", self.port), backlog=64)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted(conn)

    def _accepted(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)


class Trap(_Listener):
    """Listens on 127.0.0.1:port; ``heard`` is every line a client sent, in order."""

    def __init__(self, proxy: bool = False) -> None:
        self.proxy = proxy
        self.heard: list[str] = []
        super().__init__()

    @property
    def passwords(self) -> list[str]:
        return [line[5:] for line in self.heard if line.upper().startswith("PASS ")]

    def _accepted(self, conn: socket.socket) -> None:
        threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        reader = conn.makefile("rb")
        try:
            if self.proxy:
                while (line := reader.readline().decode(errors="replace").rstrip("\r\n")):
                    self.heard.append(line)
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            conn.sendall(b"220 trap ready\r\n")
            while line := reader.readline():
                text = line.decode(errors="replace").rstrip("\r\n")
                self.heard.append(text)
                verb = text.split(" ", 1)[0].upper()
                answer = {"USER": b"331 password please\r\n", "PASS": b"230 welcome\r\n",
                          "QUIT": b"221 bye\r\n"}.get(verb, b"550 no\r\n")
                conn.sendall(answer)
                if verb == "QUIT":
                    break
        except OSError:
            pass
        finally:
            reader.close()
            conn.close()


class Silent(_Listener):
    """Accepts every connection on 127.0.0.1:port and never says a word (a server that stalls
    whoever talks to it); ``accepted`` counts the connections."""

    def __init__(self) -> None:
        self.accepted = 0
        self._conns: list[socket.socket] = []
        super().__init__()

    def _accepted(self, conn: socket.socket) -> None:
        self.accepted += 1
        self._conns.append(conn)

    def stop(self) -> None:
        super().stop()
        for conn in self._conns:
            conn.close()
