"""Every setting Herald reads: name, meaning, default. The README's configuration table is
this table (tests/webapp/test_setup.py)."""

# name, meaning, default — rendered in the README's configuration table too.
SETTINGS = (
    ("DATABASE_URL", "SQLAlchemy URL of the database", "SQLite file `instance/herald.db`"),
    ("REDIS_URL", "Redis for the job queues", "an embedded Redis started by `serve`"),
    ("SECRET_KEY", "signs sessions and CSRF tokens", "required outside debug mode"),
    ("HERALD_ENCRYPTION_KEY", "Fernet key(s) for secrets at rest, comma-separated, newest first",
     "required outside debug mode"),
    ("SMTP_URL", "`smtp://user:pass@host:port`, `smtp+starttls://…` or `smtps://…`",
     "unset: the built-in outbox"),
    ("MAIL_FROM", "sender address of report emails", "`Herald <herald@localhost>`"),
    ("BASE_URL", "public URL of the portal, for links in emails and the SSO redirect URI",
     "the address `serve` listens on, e.g. `http://127.0.0.1:5000` (set it in production)"),
    ("PORT", "port of the web server (`serve` and the Procfile's `web`)", "`5000`"),
    ("HOST", "address the web server listens on", "`127.0.0.1`; `0.0.0.0` when `PORT` is "
     "set (a platform's router must reach it)"),
    ("WEB_CONCURRENCY", "gunicorn worker processes of the web server", "2 to 4, by CPU count"),
    ("SHUTDOWN_GRACE", "seconds a report in progress may take to finish after SIGTERM; then "
     "it is interrupted at a safe point and queued again (what was sent is not sent again)",
     "`25`"),
    ("LOG_FORMAT", "`text`, or `json` for one JSON object per line", "`text`"),
    ("LOG_LEVEL", "`DEBUG`, `INFO`, `WARNING` or `ERROR`", "`INFO`"),
    ("REPORTS_DIR", "where report CSVs are kept (with an `s3://` store: scratch space while "
     "a report is built or uploaded)", "`instance/reports`"),
    ("REPORT_STORAGE_URL", "where reports are stored: `file:///path` or `s3://bucket/prefix` "
     "(any S3-compatible store), shared by every web and worker process", "`REPORTS_DIR`"),
    ("AWS_*", "`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION` and "
     "`AWS_ENDPOINT_URL` (a store that is not AWS): read by boto3 for an `s3://` store",
     "boto3's"),
    ("REPORT_DOWNLOAD_URL_SECONDS", "with an `s3://` store, downloads redirect to a presigned "
     "URL of the store valid this many seconds instead of streaming through Herald",
     "`0` (stream)"),
    ("REPORT_RETENTION_DAYS", "days a report file is kept; then it is deleted and its run "
     "says \"expired\" (its history stays); `0` keeps them forever", "`90`"),
    ("SILENCE_GRACE_MINUTES", "minutes after its instant by which a task's scheduled run "
     "must have succeeded; then its owner and opted-in editors get one \"silent task\" alert",
     "`30`"),
    ("METRICS_TOKEN", "when set, `GET /metrics` asks for `Authorization: Bearer <token>`",
     "unset: open"),
    ("PROMETHEUS_MULTIPROC_DIR", "an empty directory (per machine, emptied at each start) "
     "where every process keeps its metrics, so `/metrics` reports web and workers together",
     "set by `serve` to `instance/metrics`; unset: each process its own"),
    ("DISPATCH_INTERVAL", "seconds between two dispatcher ticks (each dispatches the tasks "
     "due within its interval at their instant)", "`1`"),
    ("DISPATCH_AHEAD", "seconds ahead of their instant at which scheduled runs are prepared "
     "(run row and job made, held back until the instant); more than it takes to prepare the "
     "most runs due at one instant", "`60`"),
    ("CATCH_UP_MAX", "most catch-up runs a task whose policy is `each` makes after downtime "
     "(one per missed instant; beyond it the oldest are combined into the first)", "`24`"),
    ("RUN_HEARTBEAT_TIMEOUT", "seconds without a heartbeat after which a run's worker is taken "
     "for dead: the run is marked failed and retried once", "`300`"),
    ("HERALD_SSO_ROLE_MAPPER", "SSO role-mapping hook, `package.module:function` (claims, "
     "context) → role names; see roles/sso.py", "`roles.sso:map_roles` (the company's mapping)"),
    ("DELIVERY_RETRY_DELAYS", "seconds to wait before each retry of a failed delivery, "
     "comma-separated (its length + 1 is the number of attempts)", "`300,1500` (3 attempts "
     "over ~30 min)"),
    ("ACCOUNT_MAIL_RETRY_DELAYS", "seconds to wait before each retry of an invitation or "
     "password-link mail that could not be sent, comma-separated (its length + 1 is the number "
     "of attempts)", "`30,120,600,1800` (5 attempts over ~43 min)"),
    ("DELIVERY_CONNECT_TIMEOUT", "seconds to connect to an upload server (and its proxy), "
     "and the longest wait for any one answer", "`30`"),
    ("DELIVERY_TRANSFER_TIMEOUT", "seconds an upload may take, in all", "`300`"),
    ("FTPS_CA_FILE", "PEM file of extra certificate authorities trusted for FTPS servers",
     "the system's"),
    ("SSO_HTTP_TIMEOUT", "seconds to wait for a company's identity provider (discovery, keys, "
     "token)", "`10`"),
    ("AUDIT_RETENTION_DAYS", "days audit events are kept", "`400`"),
    ("INVITE_TTL_HOURS", "hours an invitation or password-reset link works (once)", "`72`"),
    ("MAX_INGEST_BYTES", "largest body `POST /api/v1/ingest/{kind}` accepts, in bytes; over it "
     "the answer is 413 (the batches committed before are counted in it)",
     "`1073741824` (1 GiB)"),
    ("ALLOW_PRIVATE_TARGETS", "`1` lets upload servers, their proxies, \"Test connection\" "
     "and SSO issuers (Test sign-in and the login itself) be loopback, private, link-local "
     "or multicast addresses (tests and local demos); otherwise they are refused", "off"),
    ("CONNECTION_TEST_TIMEOUT", "seconds one \"Test connection\" may wait for any one answer "
     "(capped by `DELIVERY_CONNECT_TIMEOUT`)", "`10`"),
    ("CONNECTION_TEST_LIMIT", "\"Test connection\" and SSO \"Test sign-in\" attempts per "
     "user (a rate limit; also at most one at a time per user and two per web process)",
     "`10 per minute`"),
    ("LOGIN_ADDRESS_LIMIT", "login attempts one client address may make (a rate in "
     "Flask-Limiter's words); beyond it the answer is 429 with `Retry-After`",
     "`20 per minute`"),
    ("TRUSTED_PROXIES", "how many reverse proxies in front of the web server set "
     "`X-Forwarded-For`/`-Proto`/`-Host`: the client address (login throttling, audit trail) "
     "is then taken from them", "`0` (the direct peer's address)"),
    ("SESSION_IDLE_MINUTES", "a portal session ends after this many minutes without a request",
     "`60`"),
    ("SESSION_MAX_HOURS", "a portal session ends this many hours after its login, however "
     "active", "`12`"),
    ("FLASK_DEBUG", "`1` for development: allows the default secrets", "off"),
)
