"""/readyz and /metrics in process (the real server, several processes and multiprocess metrics:
tests/e2e/test_operations.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import Worker

from jobs.embedded_redis import free_port
from jobs.queue import REPORTS_QUEUE, get_queue
from webapp import create_app

from ..roles.helpers import make_task


def samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_readyz_names_what_is_missing(app, client, redis_conn):
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {"status": "unavailable",
                                 "missing": {"worker": "no worker is registered"}}

    worker = Worker([get_queue(REPORTS_QUEUE, redis_conn)], connection=redis_conn)
    worker.register_birth()
    worker.heartbeat()
    assert client.get("/readyz").get_json() == {"status": "ready"}
    assert client.get("/healthz").status_code == 200

    redis_conn.hset(worker.key, "last_heartbeat", "2020-01-01T00:00:00.000000Z")
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["missing"] == {
        "worker": "no worker heartbeat within 60 s (the latest: 2020-01-01 00:00:00 UTC)"}


def test_readyz_without_redis_or_database(app, tmp_path):
    dead = create_app({**app.config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                       "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/no/such/dir/h.db"})
    answer = dead.test_client().get("/readyz")
    assert answer.status_code == 503
    missing = answer.get_json()["missing"]
    assert missing["database"] == "unreachable: OperationalError"
    assert missing["redis"].startswith("unreachable: ConnectionError")
    assert dead.test_client().get("/healthz").status_code == 200


def test_metrics_count_runs_deliveries_and_queues(smtp_app, client, make_company, mailbox, work,
                                                   redis_conn):
    before = samples(client.get("/metrics").get_data(as_text=True))
    from webapp.services import tasks as task_service

    task = make_task(make_company(), ["ops@acme.example", "risk@acme.example"])
    task_service.run_now(task, datetime.now(UTC))
    queued = samples(client.get("/metrics").get_data(as_text=True))
    assert queued[("herald_queue_depth", (("queue", "reports"),))] == 1
    assert queued[("herald_queue_depth", (("queue", "held"),))] == 0
    work()
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=")
    after = samples(answer.get_data(as_text=True))

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("herald_runs_total", status="succeeded") == 1
    assert grew("herald_deliveries_total", kind="email", status="sent") == 2
    assert grew("herald_report_build_seconds_count") == 1
    assert grew("herald_dispatch_lag_seconds_count") == 0  # a manual run has no instant
    assert after[("herald_queue_depth", (("queue", "reports"),))] == 0


def test_metrics_token(app, client):
    app.config["METRICS_TOKEN"] = "s3cret-metrics"
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert right.status_code == 200 and b"herald_runs_total" in right.data


@pytest.mark.parametrize("lag", [0.4, 7])
def test_dispatch_lag_is_observed_for_scheduled_runs(app, make_company, client, lag):
    from jobs import metrics
    from jobs.runner import run_report
    from webapp.extensions import db
    from webapp.models import Run

    before = samples(client.get("/metrics").get_data(as_text=True))
    task = make_task(make_company(), ["ops@acme.example"])
    instant = datetime.now(UTC) - timedelta(seconds=lag)
    run = Run(company_id=task.company_id, task_id=task.id, trigger="scheduled",
              scheduled_for=instant, window_start=instant - timedelta(days=1),
              window_end=instant, status="queued")
    db.session.add(run)
    db.session.commit()
    run_report(run.id)
    after = samples(client.get("/metrics").get_data(as_text=True))
    bucket = ("herald_dispatch_lag_seconds_bucket", (("le", "5.0"),))
    assert after[bucket] - before.get(bucket, 0) == (1 if lag < 5 else 0)
    count = ("herald_dispatch_lag_seconds_count", ())
    assert after[count] - before.get(count, 0) == 1
    assert metrics.metrics().dispatch_lag is metrics.metrics().dispatch_lag


def test_dispatch_lag_starts_at_the_planned_release_not_the_instant(app, make_company,
                                                                    client):
    """A task that asks to start within N minutes of its instant is held that long on
    purpose: the lag counts from the instant plus that spread, as the dispatcher released it."""
    from jobs.runner import run_report
    from jobs.series import spread_of
    from webapp.extensions import db
    from webapp.models import Run

    task = make_task(make_company(), ["ops@acme.example"])
    for minutes in range(1, 61):  # the task's own offset within them: make it a long one
        task.options = {**task.options, "spread_minutes": minutes}
        if spread_of(task) > timedelta(seconds=60):
            break
    spread = spread_of(task)
    assert spread > timedelta(seconds=60)
    instant = datetime.now(UTC) - spread - timedelta(seconds=0.4)
    run = Run(company_id=task.company_id, task_id=task.id, trigger="scheduled",
              scheduled_for=instant, window_start=instant - timedelta(days=1),
              window_end=instant, status="queued")
    db.session.add(run)
    db.session.commit()
    before = samples(client.get("/metrics").get_data(as_text=True))
    run_report(run.id)
    after = samples(client.get("/metrics").get_data(as_text=True))
    grew = {name: after[(name, labels)] - before.get((name, labels), 0)
            for name, labels in (("herald_dispatch_lag_seconds_count", ()),
                                 ("herald_dispatch_lag_seconds_sum", ()))}
    bucket = ("herald_dispatch_lag_seconds_bucket", (("le", "5.0"),))
    assert grew["herald_dispatch_lag_seconds_count"] == 1
    assert after[bucket] - before.get(bucket, 0) == 1  # not the minute and more of the spread
    assert 0.3 < grew["herald_dispatch_lag_seconds_sum"] < 5
