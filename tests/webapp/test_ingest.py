"""Ingestion of communications data through the API and the CLI: upsert by id, bad lines
rejected with their line numbers while the good ones are kept, unknown and foreign
references rejected, the permission checked."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

import webapp.services.ingest_apply as ingest_apply
from webapp.extensions import db
from webapp.models import ExportEmail, Irregularity, Message, Room, Violation

NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(*records) -> bytes:
    return b"".join((r if isinstance(r, str) else json.dumps(r)).encode() + b"\n"
                    for r in records)


def post(client, headers, kind, *records):
    return client.post(f"/api/v1/ingest/{kind}", data=ndjson(*records),
                       headers={**headers, **NDJSON})


BASE = {
    "org-units": [{"id": "ou1", "name": "Markets", "parent_id": None}],
    "users": [{"id": "u1", "email": "ana@acme.example", "name": "Ana", "org_unit_id": "ou1"}],
    "accounts": [{"id": "a1", "channel": "whatsapp", "identifier": "+447700900001",
                  "user_id": "u1"}],
    "rooms": [{"id": "r1", "channel": "whatsapp", "name": "Client", "type": "direct",
               "org_unit_id": "ou1"},
              {"id": "r2", "channel": "wecom", "name": "Desk", "type": "group"}],
}


def seed_base(client, headers):
    for kind, records in BASE.items():
        body = post(client, headers, kind, *records).get_json()
        assert body["rejected"] == 0, body


def test_every_kind_is_upserted_by_id(app, make_company, api_token):
    company = make_company()
    headers = api_token(company)
    client = app.test_client()
    seed_base(client, headers)
    violation = {"id": "v1", "room_id": "r1", "user_id": "u1", "type": "dlp",
                 "policy": "Cards", "action": "blocked",
                 "occurred_at": "2026-03-01T10:00:00+01:00"}
    irregularity = {"id": "i1", "channel": "wecom", "room_id": "r2", "org_unit_id": "ou1",
                    "event_type": "anonymous_contact", "contact": "wx-1",
                    "occurred_at": "2026-03-01T10:00:00+08:00"}
    export = {"id": "x1", "room_id": "r1", "messages": 4, "archive_address": "a@vault.example",
              "email_message_id": "<1@h>", "size_bytes": 10, "status": "failed",
              "smtp_response": "451 try later", "exported_at": "2026-03-01T10:00:00Z"}
    message = {"id": "m1", "room_id": "r1", "account_id": "a1", "direction": "sent",
               "sent_at": "2026-03-01T10:00:00+00:00"}
    for kind, record in (("violations", violation), ("irregularities", irregularity),
                         ("export-emails", export), ("messages", message)):
        response = post(client, headers, kind, record)
        assert response.status_code == 200
        assert response.get_json() == {"created": 1, "updated": 0, "rejected": 0, "errors": []}
    # the same ids again, changed: updated in place
    for kind, record in (("violations", {**violation, "action": "flagged"}),
                         ("irregularities", {**irregularity, "archiving_stopped": True}),
                         ("export-emails", {**export, "status": "sent"}),
                         ("messages", {**message, "direction": "received"})):
        assert post(client, headers, kind, record).get_json()["updated"] == 1
    v = db.session.scalars(sa.select(Violation)).one()
    assert (v.action, v.type, v.policy) == ("flagged", "dlp", "Cards")
    assert v.occurred_at.isoformat() == "2026-03-01T09:00:00+00:00"
    i = db.session.scalars(sa.select(Irregularity)).one()
    assert (i.archiving_stopped, i.contact, i.description, i.account_id) == (
        True, "wx-1", "", None)
    x = db.session.scalars(sa.select(ExportEmail)).one()
    assert (x.status, x.messages, x.size_bytes) == ("sent", 4, 10)
    m = db.session.scalars(sa.select(Message)).one()
    assert m.direction == "received"
    assert m.room_id == db.session.scalar(sa.select(Room.id).where(Room.external_id == "r1"))


def test_bad_lines_are_rejected_with_their_numbers_and_the_rest_kept(app, make_company,
                                                                      api_token):
    company = make_company()
    headers = api_token(company)
    client = app.test_client()
    seed_base(client, headers)
    good = {"room_id": "r1", "account_id": "a1", "direction": "sent",
            "sent_at": "2026-03-01T10:00:00+00:00"}
    response = post(client, headers, "messages",
                    {"id": "m1", **good},
                    "{not json",
                    {"id": "m2", **good, "direction": "sideways"},
                    {"id": "m3", **good, "room_id": "r-missing"},
                    {"id": "m4", **good, "sent_at": "2026-03-01T10:00:00"},  # no offset
                    "[1, 2]",
                    {"id": "m5", **good},
                    {"id": "m5", **good, "direction": "received"})  # twice: the later wins
    body = response.get_json()
    assert (body["created"], body["updated"], body["rejected"]) == (2, 1, 5)
    assert [e["line"] for e in body["errors"]] == [2, 3, 4, 5, 6]
    reasons = {e["line"]: e["reason"] for e in body["errors"]}
    assert reasons[2].startswith("not valid JSON")
    assert "direction" in reasons[3]
    assert reasons[4] == "room_id: unknown room id “r-missing”"
    assert "sent_at" in reasons[5]
    assert "one JSON object" in reasons[6]
    assert body["errors"][1]["id"] == "m2"
    rows = dict(db.session.execute(sa.select(Message.external_id, Message.direction)).all())
    assert rows == {"m1": "sent", "m5": "received"}


def test_references_to_another_company_are_unknown(app, make_company, api_token):
    acme, other = make_company("Acme Bank"), make_company("Other Corp")
    acme_headers, headers = api_token(acme), api_token(other)
    client = app.test_client()
    seed_base(client, acme_headers)
    response = post(client, headers, "violations",
                    {"id": "v1", "room_id": "r1", "user_id": "u1", "type": "dlp",
                     "policy": "Cards", "action": "blocked",
                     "occurred_at": "2026-03-01T10:00:00Z"})
    body = response.get_json()
    assert body["rejected"] == 1
    assert body["errors"][0]["reason"] == (
        "room_id: unknown room id “r1”; user_id: unknown user id “u1”")
    response = post(client, headers, "irregularities",
                    {"id": "i1", "channel": "whatsapp", "account_id": "a1",
                     "event_type": "disconnected", "occurred_at": "2026-03-01T10:00:00Z"})
    assert response.get_json()["errors"][0]["reason"] == (
        "account_id: unknown account id “a1”")
    # the same source ids in two companies are two records
    seed_base(client, headers)
    assert db.session.scalar(sa.select(sa.func.count(Room.id))) == 4


def test_ingesting_needs_its_permission(app, make_company, make_user, api_token):
    company = make_company()
    make_user(company, "viewer@acme.example", roles=["scheduled-reports.viewer"])
    viewer, admin = api_token(company, "viewer@acme.example"), api_token(company)
    client = app.test_client()
    response = post(client, viewer, "rooms", *BASE["rooms"])
    assert response.status_code == 403
    assert "Ingest communications data" in response.get_json()["error"]["message"]
    response = post(client, admin, "meetings", {"id": "x"})
    assert response.status_code == 404
    assert "export-emails" in response.get_json()["error"]["message"]
    response = client.post("/api/v1/ingest/rooms", data=ndjson(*BASE["rooms"]),
                           headers=NDJSON)
    assert response.status_code == 401


def test_cli_import_reports_rejected_lines_and_keeps_the_good(app, make_company, runner,
                                                              api_token, tmp_path):
    company = make_company()
    slug = company.slug
    seed_base(app.test_client(), api_token(company))
    path = tmp_path / "exports.ndjson"
    path.write_bytes(ndjson(
        {"id": "x1", "room_id": "r1", "messages": 3, "archive_address": "a@vault.example",
         "status": "sent", "exported_at": "2026-03-01T10:00:00Z"},
        {"id": "x2", "room_id": "r1", "messages": -1, "archive_address": "a@vault.example",
         "status": "sent", "exported_at": "2026-03-01T10:00:00Z"},
        {"id": "x3", "room_id": "r9", "archive_address": "a@vault.example",
         "status": "bounced", "exported_at": "2026-03-01T10:00:00Z"}))
    result = runner.invoke(args=["data", "import", "--company", slug,
                                 "export-emails", str(path)])
    assert result.exit_code == 1
    assert "1 created, 0 updated, 2 rejected" in result.stdout
    assert "line 2: rejected (messages:" in result.stderr
    assert "line 3: rejected (status:" in result.stderr
    assert db.session.scalars(sa.select(ExportEmail.external_id)).all() == ["x1"]

    result = runner.invoke(args=["data", "import", "--company", slug, "export-emails",
                                 str(path)])
    assert "0 created, 1 updated, 2 rejected" in result.stdout
    result = runner.invoke(args=["data", "import", "--company", slug, "emails",
                                 str(path)])
    assert result.exit_code != 0 and "KIND must be one of" in result.output


def test_a_large_body_is_ingested_in_batches(app, make_company, api_token):
    """More lines than a batch: all kept, counted once."""
    company = make_company()
    headers = api_token(company)
    client = app.test_client()
    seed_base(client, headers)
    count = 2500

    response = post(client, headers, "messages", *(
        {"id": f"m{n}", "room_id": "r1", "account_id": "a1",
         "direction": "sent" if n % 3 else "received",
         "sent_at": f"2026-03-01T10:{n % 60:02d}:00Z"} for n in range(count)))
    assert response.get_json() == {"created": count, "updated": 0, "rejected": 0,
                                   "errors": []}
    assert db.session.scalar(sa.select(sa.func.count(Message.id))) == count


def ingest_watching(app, make_company, api_token, monkeypatch, setting: str,
                    count: int = 3) -> list:
    """Ingest ``count`` messages for a new company, reading ``setting`` (a statement) on the
    batch's connection each time its rows have been written, before the commit."""
    company = make_company()
    headers = api_token(company)
    client = app.test_client()
    seed_base(client, headers)
    seen = []
    write = ingest_apply.bulk_insert

    def spy(*args, **kwargs):
        written = write(*args, **kwargs)
        seen.append(db.session.scalar(sa.text(setting)))
        return written

    monkeypatch.setattr(ingest_apply, "bulk_insert", spy)
    body = post(client, headers, "messages", *[
        {"id": f"m{n}", "room_id": "r1", "account_id": "a1", "direction": "sent",
         "sent_at": "2026-03-01T10:00:00+00:00"} for n in range(count)]).get_json()
    assert body["created"] == count, body
    return seen


def test_rows_are_written_with_the_databases_own_plan_choice(app, make_company, api_token,
                                                             monkeypatch):
    """PostgreSQL: the id look-ups are planned with their values, but the rows' foreign-key
    checks (prepared once per session) are not re-planned for every row written: that made
    an ingestion's insert take several times what the same COPY takes in psql."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's")
    assert ingest_watching(app, make_company, api_token, monkeypatch,
                           "SHOW plan_cache_mode") == ["auto"]


def test_an_ingestion_gives_its_larger_page_cache_back(app, make_company, api_token,
                                                       monkeypatch):
    """SQLite: an ingestion's batch is written with a 64 MB page cache (its indexes' pages
    kept while the rows go in), and the pooled connection has its own back afterwards, so a
    web process's memory stays flat."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the page cache is SQLite's")
    before = db.session.scalar(sa.text("PRAGMA cache_size"))
    assert ingest_watching(app, make_company, api_token, monkeypatch,
                           "PRAGMA cache_size", count=1) == [-65536]
    with db.engine.connect() as conn:  # the pool's connections, each with its own size back
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == before
