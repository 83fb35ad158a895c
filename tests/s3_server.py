"""A real S3-compatible server for the tests: moto's server mode, in its own process on a free
loopback port (never an in-process mock), and a fixture that points the app's report storage
at a fresh bucket in it through REPORT_STORAGE_URL and the standard AWS variables."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from jobs.embedded_redis import free_port

from .delivery_servers import wait_port

REGION = "eu-west-2"


@dataclass
class S3Server:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3 (in any process) at this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}

    def client(self):
        import boto3

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
            aws_secret_access_key="testing", region_name=REGION)

    def new_bucket(self) -> str:
        name = f"herald-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name, CreateBucketConfiguration={
            "LocationConstraint": REGION})
        return name

    def keys(self, bucket: str) -> list[str]:
        found = self.client().list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(item["Key"] for item in found)


def start_s3(log_path) -> tuple[subprocess.Popen, S3Server]:
    port = free_port()
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    wait_port(port, timeout=60)
    return process, S3Server(f"http://127.0.0.1:{port}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    process, server = start_s3(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    process.terminate()
    process.wait(timeout=10)


@dataclass
class S3Store:
    server: S3Server
    bucket: str
    prefix: str

    def keys(self) -> list[str]:
        return self.server.keys(self.bucket)


@pytest.fixture
def s3_store(app, s3_server, monkeypatch) -> S3Store:
    """The app stores reports in a fresh bucket, under a prefix."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.new_bucket()
    app.config["REPORT_STORAGE_URL"] = f"s3://{bucket}/reports/herald"
    return S3Store(s3_server, bucket, "reports/herald")


@pytest.fixture(params=["file", "s3"])
def any_store(request, app) -> S3Store | None:
    """Each test twice: reports in a local directory, then in an S3 bucket."""
    if request.param == "file":
        return None
    return request.getfixturevalue("s3_store")
