"""schemathesis against the live server's OpenAPI document, with an admin's bearer token:
bounded examples per operation; no server error, no answer the document does not describe,
and no request the document allows refused (positive_data_acceptance; the few rules that depend
on the moment or on the company's records are applied by schemathesis_hooks.py).

FUZZ_EXAMPLES (default 20 a phase and operation) and FUZZ_SEED (default fixed, so CI is
repeatable) widen or vary the search; a failure prints schemathesis' own report with a curl
line that reproduces it."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.serving import ROOT

from .conftest import FUZZ_SUMMARIES, make_tenant

CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance",
          "positive_data_acceptance"]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(live, tmp_path):
    tenant = make_tenant(live, "Fuzz Co")
    examples = os.environ.get("FUZZ_EXAMPLES", "20")
    seed = os.environ.get("FUZZ_SEED", "20261129")
    argv = [sys.executable, "-m", "schemathesis.cli", "run",
            f"{live.url}/api/v1/openapi.json",
            "--header", f"Authorization: Bearer {tenant.token}",
            "--checks", ",".join(CHECKS),
            "--phases", "examples,coverage,fuzzing", "--generation-allow-x00", "false",
            "--max-examples", examples, "--seed", seed, "--workers", "1",
            "--request-timeout", "30",
            "--report", "json", "--report-dir", str(tmp_path), "--no-color"]
    own = requests.get(f"{live.url}/api/v1/tokens", headers=tenant.headers, timeout=30).json()
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
           "PYTHONPATH": str(ROOT), "FUZZ_TOKEN_ID": str(own[0]["id"])}
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    reports = glob.glob(str(tmp_path / "json-*.json"))
    assert reports, f"schemathesis wrote no report:\n{done.stdout[-6000:]}\n{done.stderr}"
    report = json.loads(Path(reports[0]).read_text())
    operations = report["operations"]
    cases = report["test_cases"]
    failures = sum(f["count"] for f in report["failures"])
    server_errors = sum(f["count"] for f in report["failures"] if f["code"] == "ST101")
    errors = sum(e["count"] for e in report["errors"])
    summary = (f"schemathesis: {operations['tested']}/{operations['total']} operations, "
               f"{cases['generated']} requests, {failures} failures ({server_errors} server "
               f"errors, {failures - server_errors} schema violations), {errors} errors; "
               f"{examples} examples, seed {seed}, {report['running_time']:.0f} s")
    # operations whose every valid-looking request was refused: the document is looser than
    # what the API accepts (schemathesis' "validation mismatch" warning)
    looser = report.get("warnings", {}).get("validation_mismatch", [])
    summary += f"; documented looser than accepted: {', '.join(looser) or 'none'}"
    FUZZ_SUMMARIES.append(summary)
    print("\n" + summary)
    assert operations["tested"] == operations["total"] >= 25, summary
    # positive_data_acceptance fails on any request the document allows and the API refuses;
    # schemathesis' own warning says so too, for operations it could not otherwise judge
    assert not looser, summary
    assert failures == 0 and errors == 0 and done.returncode == 0, \
        f"{summary}\n{done.stdout[-20000:]}\n{done.stderr[-4000:]}"
