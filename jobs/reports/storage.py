"""Where a run's report file lives: the one place that knows, for the worker that writes it
and the web process that serves it."""

from __future__ import annotations

import os

from flask import current_app

from webapp.models import Run


def report_path(run: Run) -> str:
    """The path of the run's CSV under ``REPORTS_DIR`` (company slug / run id / file name)."""
    return os.path.join(current_app.config["REPORTS_DIR"], run.company.slug, str(run.id),
                        run.file_name)


def exists(run: Run) -> bool:
    """The run has a report file to download."""
    return bool(run.file_name) and os.path.exists(report_path(run))
