"""The loaders compiled from the ingestion schemas (webapp/schemas/compiled.py) are the schemas:
on any record, what the compiled loader accepts is exactly what ``schema.load`` returns, and
an ingestion answers the same counts, line numbers, ids and reasons with the compiled loaders
as with the schemas alone."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields, post_load, validate

from webapp.schemas.compiled import compile_loader
from webapp.services import ingest as ingest_service
from webapp.services.ingest import KINDS

from .test_ingest import BASE, seed_base

MISSING = object()
# Values of every shape a field may meet: right and wrong types, edge lengths, near-dates.
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(2**62, 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1.0, 0.0, -1.0, 2.5]),
    st.sampled_from(["", " ", "0", "1", "-1", "true", "false", "yes", "off", "on", "t", "f"]),
    st.text(max_size=3), st.text(min_size=199, max_size=201), st.text(min_size=253,
                                                                      max_size=255),
    st.sampled_from(["2026-03-01T10:00:00+00:00", "2026-03-01T10:00:00Z", "2026-03-01",
                     "2026-03-01T10:00:00", "2026-03-01 10:00:00+01:00", "20260301T100000Z",
                     "2026-02-30T10:00:00Z", "2026-03-01T10:00:00+24:00", "not a date",
                     "2026-03-01T10:00:00.123456-05:30"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(),
                                                         max_size=1))


def choices_of(field: fields.Field) -> list:
    return [c for v in field.validators if isinstance(v, validate.OneOf) for c in v.choices]


@st.composite
def records(draw, schema: Schema):
    record = {}
    for name, field in schema.fields.items():
        options = [MISSING, *choices_of(field)]
        value = draw(st.one_of(st.sampled_from(options), ANY_VALUE))
        if value is not MISSING:
            record[name] = value
    if draw(st.booleans()):
        record["unknown_field"] = draw(ANY_VALUE)
    return record


def schema_answer(schema: Schema, record: dict):
    try:
        return ("ok", schema.load(record, unknown="exclude"))
    except ValidationError as exc:
        return ("rejected", exc.messages)


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_compiled_loader_accepts_only_what_the_schema_loads_the_same(kind, data):
    spec = KINDS[kind]
    record = data.draw(records(spec.schema))
    fast = spec.fast(record)
    answer = schema_answer(spec.schema, record)
    if fast is not None:
        assert answer == ("ok", fast)
    # what an ingestion uses: the same record or the same messages, always
    try:
        assert ("ok", spec.load(record)) == answer
    except ValidationError as exc:
        assert ("rejected", exc.messages) == answer


def valid_records():
    yield from ((kind, r) for kind, rs in BASE.items() for r in rs)
    yield "messages", {"id": "m1", "room_id": "r1", "account_id": None, "direction": "sent",
                       "sent_at": "2026-03-01T10:00:00+00:00"}
    yield "violations", {"id": "v1", "room_id": "r1", "type": "dlp", "policy": "Cards",
                         "action": "blocked", "occurred_at": "2026-03-01T10:00:00+01:00"}
    yield "irregularities", {"id": "i1", "channel": "wecom", "event_type": "x",
                             "archiving_stopped": True, "occurred_at": "2026-03-01T10:00:00Z"}
    yield "export-emails", {"id": "x1", "room_id": "r1", "messages": 4, "size_bytes": 0,
                            "archive_address": "a@v.example", "status": "failed",
                            "exported_at": "2026-03-01T10:00:00Z"}


@pytest.mark.parametrize(("kind", "record"), list(valid_records()))
def test_well_formed_records_take_the_fast_path(kind, record):
    spec = KINDS[kind]
    assert spec.fast(record) == spec.schema.load(record, unknown="exclude")


def test_a_schema_the_loader_cannot_mirror_is_refused():
    class Hooked(Schema):
        id = fields.String()

        @post_load
        def upper(self, data, **kwargs):
            return data

    class Other(Schema):
        at = fields.NaiveDateTime()

    class Checked(Schema):
        email = fields.String(validate=validate.Email())

    for schema in (Hooked(), Other(), Checked()):
        with pytest.raises(TypeError):
            compile_loader(schema)


GOOD = {"room_id": "r1", "account_id": "a1", "direction": "sent",
        "sent_at": "2026-03-01T10:00:00+00:00"}
# one line of every way a message can be wrong, among good ones
MESSAGES = [
    {"id": "m1", **GOOD},
    "{not json",
    "[1, 2]",
    "",
    {"id": "m2", **GOOD, "direction": "sideways"},
    {"id": "m3", **GOOD, "room_id": "r-missing", "account_id": "a-missing"},
    {"id": "m4", **GOOD, "sent_at": "2026-03-01T10:00:00"},
    {"id": "m5", **GOOD, "sent_at": "yesterday"},
    {**GOOD},
    {"id": "", **GOOD},
    {"id": 7, **GOOD},
    {"id": "m6", **GOOD, "room_id": None},
    {"id": "m7", **GOOD, "direction": ["sent"], "sent_at": 3},
    {"id": "x" * 201, **GOOD},
    '{"id": "m8", "room_id": "r1", "direction": "sent", "sent_at": "2026-03-01T10:00:00Z", '
    '"account_id": "\\u0000"}',
    {"id": "m9", **GOOD, "extra": "ignored"},
    {"id": "m1", **GOOD, "direction": "received"},
]
ROOMS = [
    {"id": "r9", "channel": "sms", "type": "group", "participants": "3", "governed": "yes"},
    {"id": "r10", "channel": "sms", "type": "group", "participants": -1, "governed": 2},
    {"id": "r11", "channel": "sms", "type": "group", "participants": 2.5},
    {"id": "r12", "channel": "fax", "type": "room", "name": None},
    {"id": "r13", "channel": "sms", "type": "direct", "participants": 2**40},
]


@pytest.mark.parametrize(("kind", "lines"), [("messages", MESSAGES), ("rooms", ROOMS)])
def test_an_ingestion_answers_the_same_with_the_schemas_alone(app, make_company, api_token,
                                                              monkeypatch, kind, lines):
    answers = []
    for fast in (True, False):
        company = make_company(f"Acme {fast}")
        headers = api_token(company)
        client = app.test_client()
        seed_base(client, headers)
        if not fast:
            monkeypatch.setattr(ingest_service.Kind, "load", lambda spec, obj: spec.schema.load(
                obj, unknown="exclude"))
        response = client.post(f"/api/v1/ingest/{kind}", headers={
            **headers, "Content-Type": "application/x-ndjson"}, data="\n".join(
            r if isinstance(r, str) else json.dumps(r) for r in lines).encode())
        assert response.status_code == 200
        answers.append(response.get_json())
    assert answers[0] == answers[1]
    assert answers[0]["rejected"] >= len(lines) // 2
    assert ingest_service.BATCH > len(lines)
