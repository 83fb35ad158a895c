"""A running run's heartbeat: its ``heartbeat_at`` is updated every few seconds from a thread,
on a database connection of its own, while the run is in progress. A process that dies stops
beating: the reaper (jobs/reaper.py) sees the silence and fails the run.

One thread per process beats for every run in progress there (a worker runs one at a time).
It is started with the first run and kept, asleep while no run is in progress: a thread
started and joined per run cost a report run about a tenth of its wall time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from webapp.models import Run

log = logging.getLogger(__name__)


def heartbeat_every(timeout: float) -> float:
    """Beat often enough that a few missed beats (a busy database) never look like death."""
    return max(0.05, timeout / 6)


@dataclass
class _Beat:
    engine: Engine
    every: float
    due: float  # time.monotonic() of the next beat


class Beater:
    """The process's heartbeat thread and the runs it beats for."""

    def __init__(self) -> None:
        # Held while a beat is written, and while the runs change: once ``stop`` returns,
        # no beat of that run is being written, and none will be.
        self._lock = threading.Condition()
        self._runs: dict[int, _Beat] = {}
        self._thread: threading.Thread | None = None
        # When the thread wakes next (None: when told). A run starting before that, as each
        # run of a busy worker does, does not wake it: its first beat is due later.
        self._wake_at: float | None = None
        self._pid = 0

    @contextmanager
    def beating(self, run_id: int, every: float, engine: Engine) -> Iterator[None]:
        """Beat for ``run_id`` every ``every`` seconds (the first beat ``every`` seconds
        from now: its claim has just set ``heartbeat_at``) until the block ends."""
        try:
            self.start(run_id, every, engine)
            yield
        finally:
            self.stop(run_id)

    def start(self, run_id: int, every: float, engine: Engine) -> None:
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or \
                    not self._thread.is_alive():  # none yet, or a forked child's
                self._pid, self._wake_at = os.getpid(), None
                self._thread = threading.Thread(target=self._loop, name="heartbeat",
                                                daemon=True)
                self._thread.start()
            beat = self._runs[run_id] = _Beat(engine, every, time.monotonic() + every)
            if self._wake_at is None or beat.due < self._wake_at:  # it sleeps past the beat
                self._lock.notify()

    def stop(self, run_id: int) -> None:
        # Taken off first, without the lock: a job interrupted while it waits for the lock
        # below (Herald stopping) leaves no beat behind for its run.
        self._runs.pop(run_id, None)
        with self._lock:  # a beat being written ends before this returns
            pass

    def _loop(self) -> None:
        with self._lock:
            while True:
                runs = list(self._runs.items())  # a copy: stop() takes a run off unlocked
                if not runs:
                    self._wake_at = None
                    self._lock.wait()
                    continue
                now = time.monotonic()
                self._wake_at = min(beat.due for _, beat in runs)
                if self._wake_at > now:
                    self._lock.wait(self._wake_at - now)
                    continue
                for run_id, beat in runs:
                    if beat.due <= now and self._runs.get(run_id) is beat:
                        beat.due = now + beat.every
                        _beat(beat.engine, run_id)


def _beat(engine: Engine, run_id: int) -> None:
    table = Run.__table__
    try:
        with engine.begin() as conn:
            conn.execute(table.update().where(table.c.id == run_id,
                                              table.c.status == "running")
                         .values(heartbeat_at=datetime.now(UTC)))
    except OperationalError as exc:  # database busy or away: the next beat retries
        log.warning("heartbeat of run %s missed: %s", run_id, exc)


_beater = Beater()


def beating(run_id: int, every: float, engine: Engine):
    """This process's heartbeat thread beats for ``run_id`` until the block ends."""
    return _beater.beating(run_id, every, engine)
