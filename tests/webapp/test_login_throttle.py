"""Login throttling: 5 failures for one account within the window answer 429 with Retry-After
for everyone (the right password too) until the window passes; 20 attempts a minute per
address; counters in Redis. An unknown address costs a password hash as a known one does."""

from __future__ import annotations

import statistics
import time

import pytest

from ..conftest import Auth


@pytest.fixture
def fast_window(app):
    app.config["LOGIN_ACCOUNT_LIMIT"] = "5 per 15 seconds"


def test_five_failures_lock_the_account_for_everyone_until_the_window_passes(
        app, client, make_company, fast_window, redis_conn):
    make_company("Acme Bank")
    admin = "admin@acme-bank.example"
    auth = Auth(client)
    for _ in range(5):
        assert auth.login(admin, "wrong password").status_code == 200
    locked = Auth(app.test_client()).login(admin)  # someone else, the right password
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert "Too many failed logins for this account" in locked.get_data(as_text=True)
    assert Auth(app.test_client()).login("other@acme-bank.example", "x").status_code == 200
    assert any(b"herald-limits" in k for k in redis_conn.keys())  # the counters are in Redis
    time.sleep(int(locked.headers["Retry-After"]) + 1)  # the window passes
    assert Auth(app.test_client()).login(admin).status_code == 302


def test_a_success_costs_no_attempt(app, make_company, fast_window):
    make_company("Acme Bank")
    for _ in range(7):
        assert Auth(app.test_client()).login("admin@acme-bank.example").status_code == 302


def test_twenty_attempts_a_minute_per_address(app, make_company):
    make_company("Acme Bank")
    for n in range(20):
        assert Auth(app.test_client()).login(f"u{n}@acme-bank.example", "x").status_code == 200
    refused = Auth(app.test_client()).login("admin@acme-bank.example")
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_unknown_and_known_emails_cost_the_same(app, make_company):
    make_company("Acme Bank")

    def median(email: str) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            Auth(app.test_client()).login(email, "wrong password")
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    app.config["LOGIN_ADDRESS_LIMIT"] = app.config["LOGIN_ACCOUNT_LIMIT"] = "1000 per minute"
    known, unknown = median("admin@acme-bank.example"), median("nobody@acme-bank.example")
    assert unknown > known * 0.5, (known, unknown)
