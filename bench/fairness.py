"""Fairness benchmark (run by hand): ``.venv/bin/python bench/fairness.py [--a-seconds S]
[--b-seconds S] [--counts 100,1000] [--workers 2]``.

Company A has N tasks whose reports take ``--a-seconds`` each, company B one task of
``--b-seconds``; all are due at the same instant (B's job queued last, as the release of
one instant may order it) and ``--workers`` RQ workers (separate processes, RQ's
SimpleWorker on an embedded Redis) run them. Each N is measured twice in the same run:

- FIFO: RQ's own queue (Herald before fair turns) — the reference;
- fair: jobs/fair.py's FairQueue, each job marked with its company and added to its turns
  exactly as jobs/held.py does.

Printed per N: when B's report completed (from the first job's start), the goal
``2 × B + one A`` and B's time as a ratio of it (≤ 1 meets the goal), A's total time and
the fair/FIFO ratio of it (goal ≤ 1.05), with the load average. A "report" is a sleep of its
build time: what is measured is the queue's order, not a report's build.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time

from rq import Queue, SimpleWorker, get_current_job

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jobs import fair  # noqa: E402
from jobs.embedded_redis import EmbeddedRedis  # noqa: E402
from jobs.fair import FairQueue  # noqa: E402
from jobs.queue import REPORTS_QUEUE, connect  # noqa: E402

DONE = "bench:fairness:done"


def report(company: str, seconds: float) -> None:
    """A report of ``company`` that takes ``seconds``; records when it started and ended."""
    started = time.time()
    time.sleep(seconds)
    get_current_job().connection.rpush(DONE, f"{company} {started} {time.time()}")


def _work(url: str, fair_turns: bool) -> None:
    conn = connect(url)
    queue_class = FairQueue if fair_turns else Queue
    worker = SimpleWorker([queue_class(REPORTS_QUEUE, connection=conn)], connection=conn,
                          queue_class=queue_class)
    worker.work(burst=True, logging_level="ERROR")


def enqueue(conn, count: int, a_seconds: float, b_seconds: float) -> None:
    queue = Queue(REPORTS_QUEUE, connection=conn)
    jobs = [("A", a_seconds, f"bench-a-{n}", 1) for n in range(count)]
    jobs.append(("B", b_seconds, "bench-b", 2))
    with conn.pipeline() as pipe:
        for _company, _seconds, job_id, company_id in jobs:
            fair.mark(pipe, f"rq:job:{job_id}", company_id)
        queue.enqueue_many([Queue.prepare_data(report, args=(company, seconds), job_id=job_id,
                                               result_ttl=0)
                            for company, seconds, job_id, _ in jobs], pipeline=pipe)
        pipe.execute()
    fair.add(conn, queue.key, [job_id for _, _, job_id, _ in jobs])


def measure(url: str, count: int, args, fair_turns: bool) -> tuple[float, float]:
    """(B's completion, A's total), seconds from the first report's start."""
    conn = connect(url)
    conn.flushdb()
    enqueue(conn, count, args.a_seconds, args.b_seconds)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_work, args=(url, fair_turns))
               for _ in range(args.workers)]
    for process in workers:
        process.start()
    for process in workers:
        process.join()
    done = [line.decode().split() for line in conn.lrange(DONE, 0, -1)]
    assert len(done) == count + 1, f"{len(done)} of {count + 1} reports ran"
    start = min(float(s) for _, s, _ in done)
    b_end = next(float(e) for c, _, e in done if c == "B")
    a_end = max(float(e) for c, _, e in done if c == "A")
    return b_end - start, a_end - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a-seconds", type=float, default=0.1)
    parser.add_argument("--b-seconds", type=float, default=0.01)
    parser.add_argument("--counts", default="100,1000")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    goal = 2 * args.b_seconds + args.a_seconds
    print(f"A: reports of {args.a_seconds:g} s, B: one of {args.b_seconds:g} s, "
          f"{args.workers} workers; goal for B: {goal:.3f} s (2 × B + one A); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as redis_server:
        for count in (int(c) for c in args.counts.split(",")):
            b_fifo, a_fifo = measure(redis_server.url, count, args, fair_turns=False)
            b_fair, a_fair = measure(redis_server.url, count, args, fair_turns=True)
            print(f"N={count:>5}  B done: FIFO {b_fifo:8.3f} s ({b_fifo / goal:7.1f}× goal)"
                  f"  fair {b_fair:6.3f} s ({b_fair / goal:4.2f}× goal)"
                  f"  |  A total: FIFO {a_fifo:7.2f} s  fair {a_fair:7.2f} s "
                  f"(fair/FIFO {a_fair / a_fifo:5.3f})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
