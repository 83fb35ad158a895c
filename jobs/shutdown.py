"""Interrupting a job when Herald stops: the work horse's side of a graceful stop.

A worker told to stop (SIGTERM) takes no new job and gives the job in progress
``SHUTDOWN_GRACE`` seconds (jobs/worker.py). When they are over it sends its work horse
``INTERRUPT``, and the job raises ``Interrupted`` where it is — unless it is inside
``uninterruptible()`` (a delivery's claim, send and record): then as soon as that block ends,
so that a delivery is never cut between "the far side has it" and "recorded as sent".

The horse ignores SIGTERM and SIGINT: on a platform they reach every process of the
container at once, and only its worker decides when the job has had enough time.
Nothing here touches the database or Redis; outside a work horse ``uninterruptible()`` is a
no-op.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HORSE_KILL_AFTER = 3.0  # seconds between the interrupt and SIGKILL of a horse that stays

INTERRUPT = signal.SIGUSR1

_depth = 0  # nesting of uninterruptible() blocks in this process's main thread
_pending = False  # INTERRUPT arrived inside one: raise when the outermost ends
_raised = False  # once raised, the job is unwinding: a second INTERRUPT must not cut that


class Interrupted(BaseException):  # noqa: N818 - it is what happened, not an error
    """Herald is stopping and the job's grace is over. A BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way records it as the job's
    own failure; the worker puts the job's run back in the queue (jobs/worker.py)."""

    def __init__(self) -> None:
        super().__init__("Herald is stopping and the job did not finish within SHUTDOWN_GRACE")


def install_in_horse() -> None:
    """In a freshly forked work horse: INTERRUPT interrupts the job; SIGTERM/SIGINT do not."""
    global _depth, _pending, _raised
    _depth, _pending, _raised = 0, False, False
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(INTERRUPT, _on_interrupt)


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    global _pending
    if _raised:
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
