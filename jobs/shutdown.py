"""Interrupting a job when Herald stops: the job's side of a graceful stop.

A worker told to stop (SIGTERM) takes no new job and gives the job in progress
``SHUTDOWN_GRACE`` seconds (jobs/worker.py). When they are over it sends itself ``INTERRUPT``,
and the job raises ``Interrupted`` where it is — unless it is inside ``uninterruptible()`` (a
delivery's claim, send and record): then as soon as that block ends, so that a delivery is
never cut between "the far side has it" and "recorded as sent". The interrupt lands only in a
job's own code (between ``arm()`` and ``disarm()``), never in RQ's bookkeeping around it.

Nothing here touches the database or Redis; outside a worker ``uninterruptible()`` is a no-op.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

CUT_AFTER = 3.0  # seconds between the interrupt and the cut of a job that stays

INTERRUPT = signal.SIGUSR1

_armed = False  # a job's own code is running: an interrupt lands
_depth = 0  # nesting of uninterruptible() blocks in this process's main thread
_pending = False  # INTERRUPT arrived inside one: raise when the outermost ends
_raised = False  # once raised, the job is unwinding: a second INTERRUPT must not cut that


class Interrupted(BaseException):  # noqa: N818 - it is what happened, not an error
    """Herald is stopping and the job's grace is over. A BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way records it as the job's
    own failure; the worker puts the job's run back in the queue (jobs/worker.py)."""

    def __init__(self) -> None:
        super().__init__("Herald is stopping and the job did not finish within SHUTDOWN_GRACE")


def install() -> None:
    """In a worker: INTERRUPT interrupts the job in progress (and is ignored between jobs)."""
    signal.signal(INTERRUPT, _on_interrupt)


def arm() -> None:
    """A job's own code starts: from now on an interrupt lands in it."""
    global _armed, _depth, _pending, _raised
    _depth, _pending, _raised, _armed = 0, False, False, True


def disarm() -> None:
    global _armed
    _armed = False


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    global _pending
    if _raised or not _armed:
        return
    if _depth:
        _pending = True
    else:
        _raise()


def _raise() -> None:
    global _raised
    _raised = True
    raise Interrupted()


@contextmanager
def uninterruptible() -> Iterator[None]:
    """A step that must not be cut in two: an interrupt waits for its end."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _pending:
            _pending = False
            _raise()
