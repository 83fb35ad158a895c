"""Report types through a whole run: the no-longer-supported type is refused, a snapshot's
file is named by the run time, the Excel option adds a BOM, and the email's summary line
comes from the report type."""

from __future__ import annotations

import json
import re

from webapp.services.ingest import ingest

TASK = {"schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": ["ops@acme.example"]}}


def load(company_id: int, kind: str, *records) -> None:
    result = ingest(company_id, kind, [json.dumps(r) for r in records])
    assert result.rejected == 0, result.errors


def test_usage_by_company_cannot_be_created(app, make_company, api_token):
    company = make_company()
    headers = api_token(company)
    client = app.test_client()
    response = client.post("/api/v1/tasks", headers=headers, json={
        **TASK, "name": "Old", "report_type": "usage_by_company", "channels": ["whatsapp"]})
    assert response.status_code == 422
    message = response.get_json()["error"]["fields"]["report_type"]
    assert "no longer supported" in message
    types = {t["key"]: t for t in client.get("/api/v1/report-types", headers=headers).json}
    assert types["usage_by_company"]["creatable"] is False
    assert all(types[k]["creatable"] for k in types if k != "usage_by_company")
    assert len(types) == 10
    assert types["native_connection_status"]["delivery"] == ["email", "server"]
    assert types["room_metadata"]["delivery"] == ["email"]


def test_a_snapshot_run_is_named_by_its_run_time_and_has_a_bom(app, make_company, api_token,
                                                                work):
    company = make_company()
    cid = company.id
    headers = api_token(company)
    load(cid, "rooms", {"id": "r1", "channel": "sms", "name": "@risk", "type": "direct"})
    client = app.test_client()
    task = client.post("/api/v1/tasks", headers=headers, json={
        **TASK, "name": "Rooms", "report_type": "room_metadata", "channels": ["sms"],
        "options": {"excel_bom": True}}).get_json()
    run = client.post(f"/api/v1/tasks/{task['id']}/runs", headers=headers).get_json()
    work()
    run = client.get(f"/api/v1/runs/{run['id']}", headers=headers).get_json()
    assert run["status"] == "succeeded", run
    assert run["row_count"] == 1 and run["summary"] == "1 row"
    stamp = re.fullmatch(r"acme-bank_room_metadata_(\d{8}T\d{4})-(\d{8}T\d{4})\.csv",
                         run["file_name"])
    assert stamp and stamp.group(1) == stamp.group(2)
    response = client.get(f"/api/v1/runs/{run['id']}/csv", headers=headers)
    body = response.get_data()
    response.close()
    assert body.startswith("\ufeffcompany,channel,room_id,".encode())
    assert "\r\nAcme Bank,sms,r1,'@risk,direct,,,,0,0,0,\r\n" in body.decode("utf-8-sig")


def test_archive_export_summary_line_counts_sent_and_failed(app, make_company, api_token,
                                                            work):
    company = make_company()
    cid = company.id
    headers = api_token(company)
    load(cid, "rooms", {"id": "r1", "channel": "whatsapp", "type": "group"})
    from datetime import UTC, datetime, timedelta
    recent = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    load(cid, "export-emails", *(
        {"id": f"x{i}", "room_id": "r1", "archive_address": "vault@archive.example",
         "status": "failed" if i % 3 == 0 else "sent", "exported_at": recent}
        for i in range(7)))
    client = app.test_client()
    task = client.post("/api/v1/tasks", headers=headers, json={
        **TASK, "name": "Exports", "report_type": "archive_export_email_summary",
        "channels": ["whatsapp", "wecom"]}).get_json()
    run = client.post(f"/api/v1/tasks/{task['id']}/runs", headers=headers).get_json()
    work()
    run = client.get(f"/api/v1/runs/{run['id']}", headers=headers).get_json()
    assert run["status"] == "succeeded", run
    assert run["summary"] == "7 export emails: 4 sent, 3 failed"


def test_the_org_unit_filter_names_unknown_ids(app, make_company, api_token):
    company = make_company()
    headers = api_token(company)
    load(company.id, "org-units", {"id": "ou-apac", "name": "APAC"})
    client = app.test_client()
    task = {**TASK, "name": "WeCom", "report_type": "wecom_irregularities",
            "channels": ["wecom"], "options": {"org_unit_ids": ["ou-apac", "ou-emea"]}}
    response = client.post("/api/v1/tasks", headers=headers, json=task)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]["options.org_unit_ids"].startswith(
        "Unknown org unit id: ou-emea.")
    response = client.post("/api/v1/tasks", headers=headers,
                           json={**task, "options": {"org_unit_ids": ["ou-apac"]}})
    assert response.status_code == 201
    assert response.get_json()["options"]["org_unit_ids"] == ["ou-apac"]
