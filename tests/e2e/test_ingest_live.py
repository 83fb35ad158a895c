"""POST /api/v1/ingest/{kind} through gunicorn: a 100 MB body with Content-Length and chunked,
a bad line in the middle, and a body over MAX_INGEST_BYTES.

The large bodies carry ~10 KB of padding a line (an extra field, ignored): this layer proves
the transport — streaming, memory, the limit; bench/ingest.py measures rows per second."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.services.ingest import BATCH

from .conftest import MAX_INGEST_BYTES

NDJSON = {"Content-Type": "application/x-ndjson"}
BODY_BYTES = 100 * 1000 * 1000
PAD = "x" * 10_000


def ndjson(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.fixture(scope="module")
def rooms(live, tenant):
    """The rooms and accounts the messages refer to, ingested over HTTP."""
    import requests

    base = {
        "org-units": [{"id": "ou1", "name": "Markets", "parent_id": None}],
        "users": [{"id": "u1", "email": "ana@live-bank.example", "name": "Ana",
                   "org_unit_id": "ou1"}],
        "accounts": [{"id": "a1", "channel": "whatsapp", "identifier": "+447700900001",
                      "user_id": "u1"}],
        "rooms": [{"id": "r1", "channel": "whatsapp", "name": "Client", "type": "direct",
                   "org_unit_id": "ou1"}],
    }
    for kind, records in base.items():
        response = requests.post(f"{live.url}/api/v1/ingest/{kind}", data=ndjson(*records),
                                 headers={**tenant.headers, **NDJSON}, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.json()


def message(prefix: str, n: int) -> dict:
    return {"id": f"{prefix}{n}", "room_id": "r1", "account_id": "a1",
            "direction": "sent" if n % 2 else "received",
            "sent_at": f"2026-03-01T10:{n % 60:02d}:00+00:00", "padding": PAD}


def write_body(path: Path, prefix: str, size: int, bad_line: int | None = None) -> int:
    """An NDJSON file of about ``size`` bytes of messages; returns its number of lines."""
    lines = 0
    with path.open("wb") as fh:
        while fh.tell() < size:
            lines += 1
            if lines == bad_line:
                fh.write(b'{"id": "broken", "room_id": \n')
            else:
                fh.write(json.dumps(message(prefix, lines)).encode() + b"\n")
    return lines


def chunks(path: Path) -> Iterator[bytes]:
    """The file as a generator: `requests` sends it with Transfer-Encoding: chunked."""
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            yield block


def peak_rss(live) -> dict[int, int]:
    """VmHWM (peak resident memory, bytes) of each gunicorn process of the server."""
    peaks = {}
    for pid in live.served.record():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if b"gunicorn" in cmdline:
            line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
            peaks[pid] = int(line.split()[1]) * 1024
    return peaks


def count_messages(live, prefix: str) -> int:
    engine = sa.create_engine(live.database_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT count(*) FROM messages WHERE external_id LIKE "
                                       ":p"), {"p": f"{prefix}%"})
    finally:
        engine.dispose()


@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
def test_a_100_mb_body_is_streamed_and_a_bad_line_rejected_alone(live, api, rooms, tmp_path,
                                                                  transfer):
    prefix = f"big-{transfer}-"
    path = tmp_path / "body.ndjson"
    bad = 5001
    lines = write_body(path, prefix, BODY_BYTES, bad_line=bad)
    assert path.stat().st_size >= BODY_BYTES and lines > bad
    before = peak_rss(live)

    started = time.monotonic()
    with path.open("rb") as fh:
        body = fh if transfer == "content-length" else chunks(path)
        response = api.post("/api/v1/ingest/messages", data=body, headers=NDJSON)
    elapsed = time.monotonic() - started

    assert response.status_code == 200, response.text[:2000]
    answer = response.json()
    assert answer["created"] == lines - 1 and answer["updated"] == 0, answer
    assert answer["rejected"] == 1
    assert answer["errors"][0]["line"] == bad
    assert "not valid JSON" in answer["errors"][0]["reason"]
    assert count_messages(live, prefix) == lines - 1
    # The body is never held whole: no gunicorn process grew by anything like its size.
    after = peak_rss(live)
    growth = max(after[pid] - before.get(pid, 0) for pid in after)
    print(f"\n{transfer}: {path.stat().st_size / 1e6:.0f} MB, {lines} lines in {elapsed:.1f} s; "
          f"largest peak-RSS growth of a gunicorn process {growth / 1e6:.1f} MB")
    assert growth < 60e6, (before, after)


def test_a_declared_length_over_the_limit_is_refused_before_reading(live, tenant):
    conn = http.client.HTTPConnection("127.0.0.1", live.served.port, timeout=30)
    try:
        conn.putrequest("POST", "/api/v1/ingest/messages")
        for name, value in {**tenant.headers, **NDJSON,
                            "Content-Length": str(MAX_INGEST_BYTES + 1)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(ndjson(message("never-", 1)))  # the rest never comes
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 413
    assert answer["error"]["code"] == "too_large"
    assert "MAX_INGEST_BYTES" in answer["error"]["message"]
    assert answer["created"] == 0
    assert count_messages(live, "never-") == 0


def test_a_chunked_body_over_the_limit_is_413_with_the_committed_batches(live, api, rooms,
                                                                         tmp_path):
    path = tmp_path / "over.ndjson"
    write_body(path, "over-", MAX_INGEST_BYTES + (2 << 20))

    response = api.post("/api/v1/ingest/messages", data=chunks(path), headers=NDJSON)

    assert response.status_code == 413, response.text[:2000]
    answer = response.json()
    assert answer["error"]["code"] == "too_large"
    assert answer["created"] > 0 and answer["created"] % BATCH == 0  # whole batches only
    assert f"send the rest from line {answer['created'] + 1}" in answer["error"]["message"]
    assert count_messages(live, "over-") == answer["created"]
