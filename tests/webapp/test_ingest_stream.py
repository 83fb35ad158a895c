"""The NDJSON line reader under the ingest API: lines split across reads, an overlong line
skipped unread, the byte limit; and the 413 of the API."""

from __future__ import annotations

import io
import json

import pytest

from webapp.services import ingest as ingest_service
from webapp.services import ndjson
from webapp.services.ndjson import BodyTooLarge, LineTooLong, ndjson_lines


def reader(data: bytes, step: int):
    stream = io.BytesIO(data)
    return lambda size: stream.read(min(size, step))


@pytest.mark.parametrize("step", [1, 3, 7, 1 << 16])
def test_lines_split_across_reads_come_out_whole(step):
    data = b'{"a": 1}\n\n{"b": 2}\r\n{"c": 3}'
    assert list(ndjson_lines(reader(data, step))) == [b'{"a": 1}', b"", b'{"b": 2}\r',
                                                      b'{"c": 3}']


@pytest.mark.parametrize("step", [5, 1 << 16])
def test_an_overlong_line_is_skipped_and_the_next_kept(monkeypatch, step):
    monkeypatch.setattr(ingest_service, "MAX_LINE_BYTES", 10)
    monkeypatch.setattr(ndjson, "MAX_LINE_BYTES", 10)
    data = b"short\n" + b"x" * 25 + b"\nafter\n" + b"y" * 11
    lines = list(ndjson_lines(reader(data, step)))
    assert lines[0] == b"short" and lines[2] == b"after"
    assert isinstance(lines[1], LineTooLong) and isinstance(lines[3], LineTooLong)
    assert len(lines) == 4


def test_more_than_the_limit_raises():
    lines = ndjson_lines(reader(b"a\n" * 100, 16), max_bytes=50)
    with pytest.raises(BodyTooLarge):
        list(lines)
    assert list(ndjson_lines(reader(b"a\n" * 25, 16), max_bytes=50)) == [b"a"] * 25


def test_a_body_over_the_limit_is_413_with_nothing_kept(app, make_company, api_token):
    app.config["MAX_INGEST_BYTES"] = 100
    headers = {**api_token(make_company()), "Content-Type": "application/x-ndjson"}
    body = b"".join(json.dumps({"id": f"ou{n}", "name": "Unit"}).encode() + b"\n"
                    for n in range(20))
    response = app.test_client().post("/api/v1/ingest/org-units", data=body, headers=headers)
    assert response.status_code == 413
    answer = response.get_json()
    assert "MAX_INGEST_BYTES" in answer["error"]["message"]
    assert answer["created"] == 0 and "Nothing was kept" in answer["error"]["message"]
