"""Gunicorn's settings for Herald's web process: ``gunicorn -c python:webapp.gunicorn_conf
app:app`` (the Procfile's ``web``; ``serve`` adds ``--bind`` for its own address).

Read by gunicorn's master before it forks; nothing else imports this module.
"""

import math

from webapp import config as _config
from webapp import logs as _logs

_settings = _config.process_settings()
_host, _port = _config.listen_address(_settings)

bind = [f"{_host}:{_port}"]  # PORT (and HOST): on a platform, 0.0.0.0:$PORT
workers = _config.web_workers(_settings)  # WEB_CONCURRENCY
# Threads, so that htmx's polling of a run's status never waits behind a page.
worker_class = "gthread"
threads = 4
# Requests in progress get as long as a report does to finish on SIGTERM.
graceful_timeout = math.ceil(_settings["SHUTDOWN_GRACE"])
# Recent gunicorn listens on ~/.gunicorn/gunicorn.ctl, one path for all its instances on a
# machine; Herald needs none (older gunicorn ignores this unknown name).
control_socket_disable = True
# Errors and the access log through Herald's handler and format (LOG_FORMAT, LOG_LEVEL).
logconfig_dict = _logs.dict_config(_settings["LOG_FORMAT"], _settings["LOG_LEVEL"])
loglevel = _settings["LOG_LEVEL"].lower()
