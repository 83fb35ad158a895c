"""Report storage (jobs/reports/storage.py): a local directory and an S3-compatible store (moto's
server, a real HTTP server in its own process), the same behaviour through both: a run's file
is written, uploaded to a server, downloaded (streamed, or redirected to a presigned URL),
deleted with its task; memory stays flat for a large file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import requests

from jobs.reports import storage
from webapp.extensions import db
from webapp.models import Run
from webapp.services import tasks as task_service

from ..delivery_servers import USER
from .test_delivery_servers import make_task, run_once, server_payload


def _files_under(directory) -> list[str]:
    return sorted(os.path.relpath(os.path.join(root, name), directory)
                  for root, _, names in os.walk(directory) for name in names)


def test_a_run_is_stored_uploaded_and_downloaded_through_either_store(
        smtp_app, any_store, make_company, server_report_type, sftp_server, mailbox, auth,
        client):
    company = make_company()
    task = make_task(company, server_payload(sftp_server, "sftp"), emails=["ops@acme.example"])
    run = run_once(task)
    assert run.status == "succeeded"
    assert [(d.kind, d.status) for d in run.deliveries] == [("email", "sent"),
                                                             ("server", "sent")]
    assert storage.exists(run)
    with storage.local_copy(run) as path, open(path, "rb") as fh:
        body = fh.read()
    assert body.startswith(b"company,channel,phone_number,status\r\n")
    # The upload server received the stored bytes (read from a local copy with S3).
    assert sftp_server.files() == {run.file_name: body}
    if any_store is not None:
        assert any_store.keys() == [
            f"reports/herald/{company.slug}/{run.id}/{run.file_name}"]
        # Nothing of the report stays on the worker's disk: the scratch copies are gone.
        assert _files_under(smtp_app.config["REPORTS_DIR"]) == []

    auth.login(f"admin@{company.slug}.example")
    response = client.get(f"/runs/{run.id}/download")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.data == body
    assert response.headers["Content-Length"] == str(len(body))
    assert response.headers["Content-Disposition"] == f"attachment; filename={run.file_name}"
    assert response.mimetype == "text/csv"


def test_a_missing_file_is_a_404_and_an_upload_failure_not_a_crash(
        app, any_store, make_company, server_report_type, sftp_server, auth, client):
    company = make_company()
    task = make_task(company, server_payload(sftp_server, "sftp"))
    run = run_once(task)
    storage.delete_runs([(company.slug, run.id)])
    assert not storage.exists(run)
    auth.login(f"admin@{company.slug}.example")
    response = client.get(f"/runs/{run.id}/download")
    assert response.status_code == 404
    assert "no report file" in response.get_data(as_text=True)
    # A retry of the upload finds no file: recorded on the delivery, never an exception.
    from jobs.delivery import attempts

    [delivery] = run.deliveries
    delivery.status, delivery.next_attempt_at = "failed", datetime.now(UTC)
    db.session.commit()
    attempts.attempt(delivery.id, 2)
    db.session.expire_all()
    delivery = db.session.get(Run, run.id).deliveries[0]
    assert delivery.status == "failed"
    assert delivery.error.startswith("The report file is no longer stored")
    assert f"{USER}@" in delivery.target


def test_deleting_a_task_deletes_its_files(app, any_store, make_company, server_report_type,
                                           sftp_server):
    company = make_company()
    task = make_task(company, server_payload(sftp_server, "sftp"))
    other = make_task(company, server_payload(sftp_server, "sftp"))
    runs = [run_once(task), run_once(task)]
    kept = run_once(other)
    paths, run_ids = [storage.key(r) for r in runs], [r.id for r in runs]
    task_service.delete(db.session.get(type(task), task.id))
    db.session.commit()
    assert db.session.get(Run, run_ids[0]) is None
    assert storage.exists(kept)
    if any_store is None:
        assert not any(os.path.exists(storage.store().path(p)) for p in paths)
    else:
        assert any_store.keys() == [f"reports/herald/{storage.key(kept)}"]


def test_downloads_may_redirect_to_a_presigned_url(app, s3_store, make_company,
                                                   server_report_type, sftp_server, auth,
                                                   client):
    app.config["REPORT_DOWNLOAD_URL_SECONDS"] = 60
    company = make_company()
    run = run_once(make_task(company, server_payload(sftp_server, "sftp")))
    auth.login(f"admin@{company.slug}.example")
    response = client.get(f"/runs/{run.id}/download")
    assert response.status_code == 302
    url = response.headers["Location"]
    assert url.startswith(s3_store.server.endpoint) and "Expires=" in url
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Disposition"] == f'attachment; filename="{run.file_name}"'
    with storage.local_copy(run) as path, open(path, "rb") as fh:
        assert fetched.content == fh.read()


# Large enough that a store holding the file in memory would show; LARGE_REPORT_MB=1024 for
# the 1 GB proof (run by hand: it takes minutes on a small machine).
LARGE_MB = int(os.environ.get("LARGE_REPORT_MB", "200"))
PROBE = textwrap.dedent("""
    import json, os, resource, sys
    from jobs.reports.storage import S3Store
    store = S3Store(sys.argv[1], "big", sys.argv[2])
    line = b"acme," + b"x" * 1017 + b"\\r\\n"
    with store.writing("acme/0/small.csv") as path:  # warm up: boto3 loaded, client made
        with open(path, "wb") as fh:
            fh.write(line)
    chunks, _ = store.open("acme/0/small.csv")
    list(chunks)
    with store.local_copy("acme/0/small.csv"):
        pass
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    with store.writing("acme/1/big.csv") as path:
        with open(path, "wb") as fh:
            for _ in range(int(sys.argv[3]) * 1024):
                fh.write(line)
    after_upload = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    chunks, size = store.open("acme/1/big.csv")
    received = sum(len(chunk) for chunk in chunks)
    with store.local_copy("acme/1/big.csv") as path:
        copied = os.path.getsize(path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps({"size": size, "received": received, "copied": copied,
                      "before_mb": before, "after_upload_mb": after_upload, "peak_mb": peak}))
""")


def test_memory_stays_flat_for_a_large_report(s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    done = subprocess.run([sys.executable, "-c", PROBE, bucket, str(tmp_path), str(LARGE_MB)],
                          env={**os.environ, **s3_server.env}, capture_output=True, text=True,
                          timeout=1800, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    print(f"\n{LARGE_MB} MB report through S3: {figures}")
    assert figures["size"] == figures["received"] == figures["copied"] == LARGE_MB * 1024 ** 2
    # Parts of 8 MB, 4 at a time, and a short queue of writes when downloading: what the
    # transfer adds to the process stays far below the file's size, whatever that is.
    assert figures["peak_mb"] - figures["before_mb"] < 80, figures
    assert _files_under(tmp_path) == []
