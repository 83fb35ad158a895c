"""Error pages are pages of the portal: its layout and navigation, words people use, and a way
forward; the API keeps its JSON errors."""

from __future__ import annotations

import re

import pytest

from ..conftest import csrf_token


def _ways(page: str) -> list[str]:
    ways = page[page.index('<ul class="ways">'):]
    return re.findall(r'<a href="([^"]+)">', ways[:ways.index("</ul>")])


def test_404_in_the_layout_with_the_navigation_and_a_way_forward(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    response = auth.client.get("/tasks/999999", headers={"Referer": "http://localhost/admin/roles"})
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in page and 'aria-label="Main"' in page
    assert "requested URL was not found" not in page
    assert _ways(page) == ["/admin/roles", "/tasks"]  # back, then the first page of the nav
    assert "Log out, to log in as someone else" in page


def test_403_never_offers_the_page_that_refused(make_company, make_user, auth):
    company = make_company("Acme")
    make_user(company, "auditor@acme.example", roles=[])
    auth.login("auditor@acme.example")
    response = auth.client.get("/tasks")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "You need the permission “View scheduled reports”." in page
    assert "/tasks" not in _ways(page)
    assert "Log out, to log in as someone else" in page


def test_405_keeps_allow_and_explains(client):
    response = client.get("/logout")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    page = response.get_data(as_text=True)
    assert "This address can’t be opened like that" in page and _ways(page) == ["/login"]


def test_csrf_failure_says_the_form_expired_and_leads_back(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    csrf_token(auth.client, "/tasks")
    response = auth.client.post("/alerts", data={"csrf_token": "stale", "failure_alerts": "1"},
                                headers={"Referer": "http://localhost/tasks"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This form has expired" in page and "nothing was changed" in page
    assert _ways(page)[0] == "/tasks"


def test_500_is_a_page_of_the_portal_and_json_for_the_api(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    @app.get("/api/v1/boom")
    def api_boom():
        raise RuntimeError("boom")

    response = client.get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong on Herald’s side" in page and "<header" in page
    assert "boom" not in page and _ways(page) == ["/login"]
    response = client.get("/api/v1/boom")
    assert response.status_code == 500 and response.json["error"]["code"] == \
        "internal_server_error"


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/tasks/999999"])
def test_the_api_keeps_json_errors(client, path):
    response = client.get(path)
    assert response.is_json and response.json["error"]["code"] in ("not_found", "unauthorized")
