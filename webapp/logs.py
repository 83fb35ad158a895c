"""Logging of Herald's processes, configured once at each entry point (``serve``, the worker,
the scheduler and gunicorn's config), never inside the app factory.

Every line goes to standard error, as text or, with ``LOG_FORMAT=json``, as one JSON object
per line. RQ's lines about Herald's own periodic job (the dispatcher tick, every second) are
dropped below DEBUG, so an idle Herald logs nothing per tick.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime

from jobs.queue import PERIODIC_JOB_PREFIX

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, pid, message, and the
    traceback as ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class QuietPeriodicJobs(logging.Filter):
    """Drops RQ's INFO lines about one of Herald's periodic jobs (dequeued, "Job OK", result
    kept, completed): they say nothing but "the tick ran", once a second. RQ names the job by
    its id when the worker's ``log_job_description`` is off, as jobs/worker.py sets it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("rq"):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(arg, str) and arg.startswith(PERIODIC_JOB_PREFIX) for arg in args)


def dict_config(fmt: str = "text", level: str = "INFO") -> dict:
    """The ``logging.config.dictConfig`` of a Herald process (gunicorn takes it as
    ``logconfig_dict``): one handler on standard error, used by every logger."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    filters = [] if level == "DEBUG" else ["periodic"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"periodic": {"()": QuietPeriodicJobs}},
        "formatters": {"herald": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "herald", "filters": filters}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # gunicorn's own loggers go through the same handler (and format).
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
            # paramiko's transport thread logs, with a traceback, every SSH connection that
            # fails (a port that does not speak SSH); the delivery or the connection test
            # already reports that failure in its own words.
            "paramiko.transport": {"level": "CRITICAL", "handlers": [], "propagate": True},
        },
    }


def configure(fmt: str = "text", level: str = "INFO") -> None:
    logging.config.dictConfig(dict_config(fmt, level))
