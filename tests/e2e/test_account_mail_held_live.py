"""An invitation made while Redis refuses its job, against the live server: the command
that made it (the CLI, a process of its own whose Redis is unreachable) commits and holds
the message in the database; the live server's dispatcher tick queues it and a worker sends
it to the mail server, where its link works."""

from __future__ import annotations

import subprocess
import sys

import requests

from jobs.embedded_redis import free_port
from tests.serving import ROOT

from .conftest import make_tenant
from .test_accounts_live import emailed_path


def test_an_invitation_redis_refused_arrives_after_the_tick(live, mailbox):
    tenant = make_tenant(live, "Held Bank")
    nia = "nia@held-bank.example"
    before = len(mailbox.messages)
    env = {**live.env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # nobody listens
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "users", "invite", "--company",
         tenant.slug, nia, "--name", "Nia"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr  # committed, and the command says so
    assert "invited nia@held-bank.example" in done.stdout
    assert "n***@held-bank.example (company held-bank) held" in done.stderr, done.stderr
    assert nia not in done.stderr and "/password/" not in done.stderr

    link = live.url + emailed_path(mailbox, nia, before)  # the live tick queued it
    form = requests.get(link, timeout=30)
    assert form.status_code == 200 and "Welcome to Herald" in form.text
