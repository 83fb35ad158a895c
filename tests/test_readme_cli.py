"""The README's command-line examples, run verbatim in a checkout that `make run` set up:
every `flask --app app …` command finds the keys in instance/herald.env by itself."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from jobs.embedded_redis import free_port

from .serving import ROOT, Served, clean_environ

README = ROOT / "README.md"
VENV = ROOT / ".venv"


def cli_examples() -> list[str]:
    """The README's shell blocks that run Herald's CLI."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [block for block in blocks if ".venv/bin/flask --app app" in block]


def copy_checkout(dest: Path) -> Path:
    """The checkout's files (as git sees them, without instance/), the installed htmx, and
    the same .venv, so that `make run` has nothing to install."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    shutil.copy2(ROOT / "webapp/static/htmx.min.js", dest / "webapp/static/htmx.min.js")
    (dest / ".venv").symlink_to(VENV)
    # The Makefile reinstalls when pyproject.toml is newer than the venv's stamp: not here,
    # where that would repoint the shared venv's editable install at this copy.
    stamp = (VENV / ".installed").stat().st_mtime
    os.utime(dest / "pyproject.toml", (stamp - 1, stamp - 1))
    return dest


@pytest.mark.skipif(not (VENV / "bin/flask").exists() or shutil.which("git") is None
                    or not (ROOT / ".git").exists()
                    or not (ROOT / "webapp/static/htmx.min.js").exists(),
                    reason="needs the checkout's .venv and htmx (make venv htmx) and git")
def test_readme_cli_examples_work_verbatim_after_make_run(tmp_path):
    examples = cli_examples()
    assert examples, "the README shows no CLI example"
    checkout = copy_checkout(tmp_path / "herald")
    assert not (checkout / "instance").exists()
    port = free_port()
    env = {k: v for k, v in clean_environ(PORT=str(port)).items()
           if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    served = Served(env, tmp_path / "make-run.log", port, argv=["make", "run"], cwd=checkout)
    try:
        served.wait_for_login_page(timeout=240)
        assert (checkout / "instance/herald.env").exists()
        assert "Log in as admin@demo.example" in served.log()
        assert f"Herald is up: http://127.0.0.1:{port}/login" in served.log()
        assert f"127.0.0.1:{port}" in served.log() and f"0.0.0.0:{port}" not in served.log()

        for example in examples:
            # The user's shell: no SECRET_KEY or HERALD_ENCRYPTION_KEY, PORT as they set it.
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", example], cwd=checkout,
                                  env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{example}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr, done.stderr
        tasks = json.loads(done.stdout)["tasks"]  # the last example lists the tasks (a page)
        assert [task["name"] for task in tasks] == ["Rooms, every morning"], done.stdout
    finally:
        served.stop()
    assert served.process.returncode is not None
