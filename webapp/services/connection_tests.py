""""Test connection", bounded so that it can never hold the web tier: the user's own server
may accept and then never answer.

- Per user: `CONNECTION_TEST_LIMIT` tests (default 10 a minute), counted in the login
  throttle's store (Redis), so every web process shares the count.
- Per web process: at most `SLOTS` tests at once; one more is refused at once, never queued.
- Per test: the request waits at most `CONNECTION_TEST_TIMEOUT` seconds in all (capped by
  `DELIVERY_CONNECT_TIMEOUT`); the test itself runs on its own thread with that timeout for
  every answer, so it ends by itself soon after.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from limits import parse

from jobs.delivery import settings as server_settings
from jobs.delivery.base import InvalidSettings, TestResult, Timeouts

from ..extensions import limiter
from .errors import InputError

SLOTS = 2  # per web process: its other threads stay free for everyone else
_slots = threading.BoundedSemaphore(SLOTS)


class TooManyTests(Exception):
    """Refused: the user's limit, or this process's concurrent tests; try after retry_after s."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, retry_after)


def run(raw, stored: dict | None, user_id: int) -> TestResult:
    """Validate (InputError), count against the user's limit and take a slot (TooManyTests),
    then test within the deadline."""
    try:
        plain = server_settings.prepare_test(raw, stored)
    except InvalidSettings as exc:
        raise InputError(exc.fields) from None
    _count(user_id)
    if not _slots.acquire(blocking=False):
        raise TooManyTests("Other connection tests are running; try again in a few seconds.", 5)
    config = current_app.config
    deadline = min(config["CONNECTION_TEST_TIMEOUT"], config["DELIVERY_CONNECT_TIMEOUT"])
    outcome: list = []
    app = current_app._get_current_object()

    def test() -> None:
        try:
            with app.app_context():
                outcome.append(server_settings.test_prepared(
                    plain, Timeouts(connect=deadline, transfer=deadline)))
        except Exception as exc:  # noqa: BLE001 - raised again on the request's thread
            outcome.append(exc)
        finally:
            _slots.release()

    thread = threading.Thread(target=test, name="connection-test", daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(deadline + 1)
    if outcome and isinstance(outcome[0], Exception):
        raise outcome[0]
    if outcome:
        return outcome[0]
    waited = time.monotonic() - started
    return TestResult(False, f"No complete answer from {plain.host}:{plain.port} within "
                             f"{waited:.0f} s: the test was given up.")


@contextmanager
def admitted(user_id: int) -> Iterator[None]:
    """For another test of a user's settings ("Test sign-in"): the same per-user count and
    the same slots (TooManyTests when refused)."""
    _count(user_id)
    if not _slots.acquire(blocking=False):
        raise TooManyTests("Other connection tests are running; try again in a few seconds.", 5)
    try:
        yield
    finally:
        _slots.release()


def _count(user_id: int) -> None:
    limit = parse(current_app.config["CONNECTION_TEST_LIMIT"])
    keys = ("connection-test", str(user_id))
    if limiter.limiter.hit(limit, *keys):
        return
    reset = limiter.limiter.get_window_stats(limit, *keys).reset_time
    raise TooManyTests("Too many connection tests; wait a little and try again.",
                       math.ceil(reset - time.time()))
