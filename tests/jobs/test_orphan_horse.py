"""A SIGKILLed worker leaves no work horse running unsupervised: the kernel interrupts the job
at its next safe point (issue 15)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A worker (this script) and its forked horse, set up as HeraldWorker sets up its horses.
WORKER = """
import os, sys, time
from jobs import shutdown
from jobs.worker import orphan_guard
worker = os.getpid()
pid = os.fork()
if pid == 0:
    shutdown.install_in_horse()
    orphan_guard(worker)
    try:
        time.sleep(120)  # the job's work
    except shutdown.Interrupted:
        open(sys.argv[1], "w").write("interrupted")
        os._exit(0)
    os._exit(1)
print(pid, flush=True)
time.sleep(120)
"""


def test_the_horse_of_a_killed_worker_is_interrupted(tmp_path):
    marker = tmp_path / "horse"
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(marker)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    horse = int(worker.stdout.readline())
    try:
        time.sleep(1)  # the horse has set its guard
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.read_text() == "interrupted"
    finally:
        try:
            os.kill(horse, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.kill()
        worker.wait()
        worker.stdout.close()
