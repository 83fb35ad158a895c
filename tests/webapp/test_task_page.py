"""A task's page shows every option its form sets, in the form's own words (one table of
names: webapp/views/words.py TASK_OPTIONS), and the list names the activated-task limit."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Task
from webapp.views.words import TASK_OPTIONS

from .test_portal import STEP1, _post

OPTIONS = {"excel_bom": "1", "skip_empty": "1", "gzip": "1", "spread_minutes": "15",
           "catch_up": "each", "ends_on": "2031-12-31"}


def _facts(page: str) -> str:
    return page[page.index('<dl class="facts">'):page.index("</dl>")]


def test_the_task_page_shows_every_option_of_the_form_in_its_words(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    form = client.get("/tasks/new").get_data(as_text=True)
    saved = _post(client, "/tasks/new", {**STEP1, **OPTIONS, "report_type":
                                         "whatsapp_inactivity", "channels": ["whatsapp"],
                                         "step": "2", "action": "save",
                                         "emails": ["admin@acme.example"]})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    task = db.session.scalar(sa.select(Task))
    facts = _facts(client.get(f"/tasks/{task.id}").get_data(as_text=True))
    assert "Excel BOM" not in facts
    for key in ("excel_bom", "skip_empty", "gzip", "spread_minutes"):
        assert TASK_OPTIONS[key] in form  # the form's label …
        assert f"<dt>{TASK_OPTIONS[key]}</dt>" in facts  # … names it on the task's page
    assert '<dd id="option-excel_bom">yes</dd>' in facts
    assert '<dd id="option-gzip">yes</dd>' in facts
    assert "yes: no email when the report has no rows" in facts
    assert "15 minutes: scheduled runs start up to 15 minutes after their time" in facts
    assert '<dt>Inactivity threshold, days</dt><dd id="option-inactivity_days">14</dd>' in facts
    assert "One run per missed time" in facts and "31 December 2031" in facts


def test_the_task_page_says_no_for_options_left_off(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    task = db.session.scalar(sa.select(Task))
    facts = _facts(client.get(f"/tasks/{task.id}").get_data(as_text=True))
    for key in ("excel_bom", "skip_empty", "gzip"):
        assert f'<dd id="option-{key}">no</dd>' in facts
    assert "0 minutes: scheduled runs start at their time" in facts


def test_the_list_says_what_the_limit_is(make_company, auth):
    make_company("Acme")
    auth.login("admin@acme.example")
    client = auth.client
    assert "0 activated tasks (at most 100)." in client.get("/tasks").get_data(as_text=True)
    _post(client, "/tasks/new", {**STEP1, "step": "2", "action": "save",
                                 "emails": ["admin@acme.example"]})
    page = client.get("/tasks").get_data(as_text=True)
    assert "1 activated task (at most 100)." in page and " of 100 " not in page
    assert "1 activated task (at most 100)." in client.get("/tasks/new").get_data(as_text=True)
