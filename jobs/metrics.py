"""Herald's Prometheus metrics, counted where things happen (runner, deliveries, dispatch)
and served by ``GET /metrics`` (webapp/services/operations.py).

With ``PROMETHEUS_MULTIPROC_DIR`` set (``serve`` sets it), prometheus_client's multiprocess
mode keeps each process's values in a file of that directory, so the web workers and the RQ
workers report together. An RQ worker runs its jobs in its own process (jobs/worker.py), so
each worker has one file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import current_app
from prometheus_client import Counter, Histogram, values


@dataclass(frozen=True)
class Metrics:
    runs: Counter
    deliveries: Counter
    dispatch_lag: Histogram
    build_seconds: Histogram
    account_mails: Counter


_metrics: Metrics | None = None


def metrics() -> Metrics:
    """The metrics, made on first use (after the app has configured multiprocess mode)."""
    global _metrics
    if _metrics is None:
        directory = current_app.config.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            os.makedirs(directory, exist_ok=True)
            values.ValueClass = values.MultiProcessValue()
        _metrics = Metrics(
            runs=Counter("herald_runs", "Runs finished, by outcome", ["status"]),
            deliveries=Counter("herald_deliveries",
                               "Delivery attempts finished, by kind and outcome",
                               ["kind", "status"]),
            dispatch_lag=Histogram(
                "herald_dispatch_lag_seconds",
                "From a scheduled run's planned release (its instant, plus the task's "
                "\"start within N minutes\" offset) to its start in a worker",
                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)),
            build_seconds=Histogram(
                "herald_report_build_seconds", "Time to build a report and store its file",
                buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)),
            account_mails=Counter(
                "herald_account_mails", "Invitation and password-link mail attempts, by "
                "outcome (sent; retry: failed, tried again later; failed: after the last; "
                "held: Redis refused the job, kept in the database until the next tick)",
                ["status"]),
        )
    return _metrics


def run_finished(status: str) -> None:
    metrics().runs.labels(status=status).inc()


def delivery_finished(kind: str, status: str) -> None:
    metrics().deliveries.labels(kind=kind, status=status).inc()


def account_mail(status: str) -> None:
    metrics().account_mails.labels(status=status).inc()
