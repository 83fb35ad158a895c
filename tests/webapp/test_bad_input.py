"""Inputs the API fuzzer (tests/e2e/test_fuzz_live.py) and hand probes found answering 500:
ids beyond 64 bits, JSON nested too deeply, lone surrogates and NUL in strings, schedule
previews near the ends of the calendar. Each is bad input now: a 4xx or a rejected line."""

from __future__ import annotations

import json

import pytest

from webapp import strict_json

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("text, problem", [
    (DEEP, "nested too deeply"),
    ('{"name": "a\\ud800b"}', "lone UTF-16 surrogate"),
    ('["\\udfff"]', "lone UTF-16 surrogate"),
    ('{"\\ud800": 1}', "lone UTF-16 surrogate"),
    ('{"name": "a\\u0000b"}', "NUL"),
])
def test_strict_json_refuses_what_no_column_holds(text, problem):
    with pytest.raises(ValueError, match=problem):
        strict_json.loads(text)


def test_strict_json_reads_surrogate_pairs_and_plain_text():
    assert strict_json.loads('{"name": "a\\ud83d\\ude00b", "n": [1, {"x": null}]}') == \
        {"name": "a\U0001F600b", "n": [1, {"x": None}]}
    assert strict_json.loads(b'"\xc3\xa9"') == "é"


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/tasks/{big}"), ("PATCH", "/api/v1/tasks/{big}"),
    ("DELETE", "/api/v1/tasks/{big}"), ("GET", "/api/v1/runs/{big}/csv"),
    ("PATCH", "/api/v1/roles/{big}"), ("DELETE", "/api/v1/users/{big}/roles/{big}"),
    ("POST", "/api/v1/servers/test?task_id={big}"),
])
@pytest.mark.parametrize("big", [2**31, 2**64])
def test_ids_beyond_the_column_type_are_404(app, make_company, api_token, method, path, big):
    """Tasks, runs, users and roles have 32-bit keys on PostgreSQL: 2**31 overflowed there."""
    headers = api_token(make_company())
    response = app.test_client().open(path.format(big=big), method=method, headers=headers,
                                      json={})
    assert response.status_code == 404, response.get_data(as_text=True)


def test_portal_ids_beyond_64_bits_are_404(app, make_company, auth, client):
    company = make_company()
    auth.login(f"admin@{company.slug}.example")
    assert client.get(f"/tasks/{2**31}").status_code == 404
    assert client.get(f"/tasks/{2**63}").status_code == 404
    assert client.get(f"/runs/{2**70}").status_code == 404


@pytest.mark.parametrize("path, method", [("/api/v1/tasks", "POST"), ("/api/v1/roles", "POST"),
                                          ("/api/v1/sso", "PUT")])
@pytest.mark.parametrize("body", [DEEP, '{"name": "\\ud800"}', '{"name": "\\u0000"}'])
def test_unreadable_json_bodies_are_422(app, make_company, api_token, path, method, body):
    headers = {**api_token(make_company()), "Content-Type": "application/json"}
    response = app.test_client().open(path, method=method, data=body, headers=headers)
    assert response.status_code == 422, response.get_data(as_text=True)


def test_ingest_rejects_unreadable_lines_alone(app, make_company, api_token):
    headers = {**api_token(make_company()), "Content-Type": "application/x-ndjson"}
    body = "\n".join(['{"id": "a", "name": "A"}', '{"id": "b", "name": "' + "[" * 10 + '"}',
                      '{"id": "c", "name": ' + DEEP + "}", '{"id": "d\\ud800", "name": "D"}',
                      '{"id": "e", "name": "E\\u0000"}', '{"id": "f", "name": "F"}'])
    answer = app.test_client().post("/api/v1/ingest/org-units", data=body.encode(),
                                    headers=headers).get_json()
    assert answer["created"] == 3
    assert [e["line"] for e in answer["errors"]] == [3, 4, 5]


@pytest.mark.parametrize("after", ["9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+00:00",
                                   "1969-12-31T23:59:59-01:00"])
@pytest.mark.parametrize("schedule", ["kind=daily&time=06:30",
                                      "kind=monthly&time=06:30&day=28&every=12"])
def test_previews_near_the_ends_of_the_calendar_are_422(app, make_company, api_token, after,
                                                        schedule):
    headers = api_token(make_company())
    response = app.test_client().get("/api/v1/schedules/preview", headers=headers,
                                     query_string=f"{schedule}&count=100&after={after}"
                                     .replace("+", "%2B"))
    assert response.status_code == 422
    assert "1970 to 9000" in response.get_json()["error"]["fields"]["after"]


def test_a_preview_at_the_last_allowed_year_answers(app, make_company, api_token):
    headers = api_token(make_company())
    response = app.test_client().get(
        "/api/v1/schedules/preview", headers=headers,
        query_string="kind=monthly&time=06:30&day=28&every=12&count=100"
                     "&after=9000-12-31T23:59:59-14:00")
    assert response.status_code == 200 and len(response.get_json()["runs"]) == 100


def test_every_operation_documents_the_common_errors(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"401", "403"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
    assert json.dumps(doc)  # still plain JSON


def test_the_channel_boxes_follow_the_report_type(app, make_company, auth, client):
    company = make_company()
    auth.login(f"admin@{company.slug}.example")
    page = client.get("/tasks/channels?report_type=wecom_irregularities&channels=wecom"
                      "&channels=sms", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="channels"' in page and "<form" not in page
    assert 'value="wecom" checked' in page and 'value="sms"' not in page
