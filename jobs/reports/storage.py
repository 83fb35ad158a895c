"""Where a run's report file lives: the one place that knows, for the worker that writes it,
the deliveries that upload it and the web process that serves it.

``REPORT_STORAGE_URL`` chooses the store: ``file:///path`` (the default, ``REPORTS_DIR``) or
``s3://bucket/prefix`` for any S3-compatible store, whose credentials, region and endpoint
boto3 reads from the standard AWS variables (``AWS_ENDPOINT_URL`` for a store that is not
AWS). With S3, web and worker processes on different machines share reports, and no file
lives on a machine's disk for longer than it takes to build, upload or serve it.

A report's key is ``<company slug>/<run id>/<file name>``, the same in both stores.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import Run, Task

CHUNK = 1024 * 1024  # bytes read at a time when a report is streamed
PART = 8 * 1024 * 1024  # S3 multipart: part size; memory stays ~ PART × THREADS
THREADS = 4  # parts in flight at once (upload or download)


class StorageError(ValueError):
    """REPORT_STORAGE_URL cannot be used; the message says what to set."""


def parse(url: str) -> tuple[str, str, str]:
    """(scheme, bucket or directory, key prefix) of a REPORT_STORAGE_URL."""
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.path and not parts.netloc:
        return "file", parts.path, ""
    if parts.scheme == "s3" and parts.netloc:
        return "s3", parts.netloc, parts.path.strip("/")
    raise StorageError(f"REPORT_STORAGE_URL must be file:///absolute/path or "
                       f"s3://bucket/optional/prefix, not {url!r}.")


def key(run: Run) -> str:
    return f"{run_prefix(run.company.slug, run.id)}{run.file_name}"


def run_prefix(company_slug: str, run_id: int) -> str:
    return f"{company_slug}/{run_id}/"


class LocalStore:
    """Reports in a directory (one machine, or a shared file system)."""

    def __init__(self, root: str):
        self.root = root

    def path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    @contextmanager
    def writing(self, key: str) -> Iterator[str]:
        path = self.path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        yield path  # the writer writes atomically (a temporary name, then a rename)

    def exists(self, key: str) -> bool:
        return os.path.isfile(self.path(key))

    @contextmanager
    def local_copy(self, key: str) -> Iterator[str]:
        path = self.path(key)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no report file {key}")
        yield path

    def open(self, key: str) -> tuple[Iterator[bytes], int]:
        fh = open(self.path(key), "rb")  # closed by the generator
        return _chunks(fh), os.fstat(fh.fileno()).st_size

    def delete(self, prefixes: Iterable[str]) -> None:
        for prefix in prefixes:
            shutil.rmtree(self.path(prefix.rstrip("/")), ignore_errors=True)

    def presigned_url(self, key: str, file_name: str, seconds: int) -> str | None:
        return None


def _chunks(fh) -> Iterator[bytes]:
    with fh:
        while block := fh.read(CHUNK):
            yield block


_SESSION = None  # boto3's, one per process tree (made before a worker forks its jobs)


class S3Store:
    """Reports in an S3-compatible bucket, under an optional key prefix."""

    def __init__(self, bucket: str, prefix: str, scratch: str):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        global _SESSION
        if _SESSION is None:
            _SESSION = boto3.session.Session()
        self.bucket, self.prefix, self.scratch = bucket, prefix, scratch
        # From the session of the process that forked this one, if any: its S3 model is
        # loaded already, which makes a job's client quick to make.
        self.client = _SESSION.client(
            "s3", config=Config(retries={"max_attempts": 5, "mode": "standard"}))
        self.transfer = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART,
                                       max_concurrency=THREADS, max_io_queue=16)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _scratch_file(self, key: str) -> Iterator[str]:
        os.makedirs(self.scratch, exist_ok=True)
        directory = tempfile.mkdtemp(prefix="report-", dir=self.scratch)
        try:
            yield os.path.join(directory, key.rsplit("/", 1)[-1])
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    @contextmanager
    def writing(self, key: str) -> Iterator[str]:
        """A scratch file to write; uploaded (multipart, streamed from disk) when the block
        ends without an error, then removed."""
        with self._scratch_file(key) as path:
            yield path
            self.client.upload_file(path, self.bucket, self._key(key), Config=self.transfer,
                                    ExtraArgs={"ContentType": "text/csv"})

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    @contextmanager
    def local_copy(self, key: str) -> Iterator[str]:
        """The report downloaded to a scratch file (streamed), removed after the block."""
        from botocore.exceptions import ClientError

        with self._scratch_file(key) as path:
            try:
                self.client.download_file(self.bucket, self._key(key), path,
                                          Config=self.transfer)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                    raise FileNotFoundError(f"no report file {key}") from None
                raise
            yield path

    def open(self, key: str) -> tuple[Iterator[bytes], int]:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(f"no report file {key}") from None
        body = answer["Body"]
        return _body_chunks(body), int(answer["ContentLength"])

    def delete(self, prefixes: Iterable[str]) -> None:
        keys = []
        pages = self.client.get_paginator("list_objects_v2")
        for prefix in prefixes:
            for page in pages.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                keys += [item["Key"] for item in page.get("Contents", [])]
        for start in range(0, len(keys), 1000):  # the most one request may delete
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})

    def presigned_url(self, key: str, file_name: str, seconds: int) -> str | None:
        return self.client.generate_presigned_url("get_object", ExpiresIn=seconds, Params={
            "Bucket": self.bucket, "Key": self._key(key), "ResponseContentType": "text/csv",
            "ResponseContentDisposition": f'attachment; filename="{file_name}"'})


def _body_chunks(body) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def store() -> LocalStore | S3Store:
    """The app's store, made once per process (a forked worker makes its own S3 client)."""
    config = current_app.config
    url = config.get("REPORT_STORAGE_URL") or f"file://{config['REPORTS_DIR']}"
    cached = current_app.extensions.get("herald_store")
    if cached is not None and cached[0] == (url, os.getpid()):
        return cached[1]
    scheme, where, prefix = parse(url)
    made = LocalStore(where) if scheme == "file" else \
        S3Store(where, prefix, os.path.join(config["REPORTS_DIR"], "scratch"))
    current_app.extensions["herald_store"] = ((url, os.getpid()), made)
    return made


# --- a run's report ----------------------------------------------------------------------

@contextmanager
def writing(run: Run) -> Iterator[str]:
    """A local path to write the run's report to; stored when the block ends."""
    with store().writing(key(run)) as path:
        yield path


def exists(run: Run) -> bool:
    """The run has a report file to download."""
    return bool(run.file_name) and store().exists(key(run))


@contextmanager
def local_copy(run: Run) -> Iterator[str]:
    """A local path holding the run's report for the block (for an upload); FileNotFoundError
    when it has none."""
    if not run.file_name:
        raise FileNotFoundError(f"run {run.id} has no report file")
    with store().local_copy(key(run)) as path:
        yield path


def open_report(run: Run) -> tuple[Iterator[bytes], int]:
    """The run's report as chunks to stream, and its size; FileNotFoundError if none."""
    if not run.file_name:
        raise FileNotFoundError(f"run {run.id} has no report file")
    return store().open(key(run))


def presigned_url(run: Run, seconds: int) -> str | None:
    """A short-lived URL of the report in the store itself (S3), or None (a local store)."""
    return store().presigned_url(key(run), run.file_name, seconds)


def files_of(task: Task) -> list[tuple[str, int]]:
    """(company slug, run id) of every run of the task that has a file, for delete_runs."""
    slug = task.company.slug
    return [(slug, run_id) for run_id in db.session.scalars(
        sa.select(Run.id).where(Run.task_id == task.id, Run.file_name.is_not(None)))]


def delete_runs(runs: Iterable[tuple[str, int]]) -> None:
    """Delete the files of runs given as (company slug, run id); missing ones are no error."""
    store().delete(run_prefix(slug, run_id) for slug, run_id in runs)
