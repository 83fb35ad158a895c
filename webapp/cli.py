"""`flask --app app …` commands of docs/product.md §8."""

from __future__ import annotations

import secrets
import sys
import time
from datetime import UTC, datetime, timedelta

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from .extensions import db
from .models import Company, User
from .models.users import TOKEN_SCOPES, email_key
from .services import accounts, tokens
from .services import tasks as task_service
from .services.demo import seed
from .services.errors import InputError
from .services.ingest import KINDS, ingest
from .services.people import create_company, create_user
from .services.secrets import SecretUnreadable, rotate_secrets

companies = AppGroup("companies", help="Manage companies (tenants).")
users = AppGroup("users", help="Manage users and API tokens.")
demo = AppGroup("demo", help="Demo company and data.")
data = AppGroup("data", help="Import communications data.")
secrets_group = AppGroup("secrets", help="Secrets at rest (HERALD_ENCRYPTION_KEY).")

DEMO_ADMIN = "admin@demo.example"


def _fail(exc: InputError):
    raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.fields.items()))


def _company(slug: str) -> Company:
    company = db.session.scalar(sa.select(Company).where(Company.slug == slug))
    if company is None:
        raise click.ClickException(f"No company with the slug “{slug}”.")
    return company


@companies.command("create")
@click.argument("name")
@click.option("--timezone", required=True, help="IANA time zone, e.g. Europe/London")
@click.option("--admin-email", required=True)
@click.option("--admin-password", required=True)
def companies_create(name, timezone, admin_email, admin_password):
    """Create a company with its admin; prints the slug."""
    try:
        company = create_company(name, timezone, admin_email, admin_password)
    except InputError as exc:
        db.session.rollback()
        _fail(exc)
    db.session.commit()
    click.echo(company.slug)


@users.command("create")
@click.option("--company", "slug", required=True)
@click.option("--email", required=True)
@click.option("--password")
@click.option("--name", default="")
@click.option("--group", is_flag=True, help="A group email (distribution list): no login, no role")
@click.option("--role", "roles", multiple=True)
def users_create(slug, email, password, name, group, roles):
    """Create a user (or a group email) in a company."""
    try:
        user = create_user(_company(slug), email, password=password, name=name, is_group=group,
                           roles=list(roles))
    except InputError as exc:
        db.session.rollback()
        _fail(exc)
    db.session.commit()
    click.echo(f"created {user.email}")


@users.command("token")
@click.option("--company", "slug", required=True)
@click.option("--name", default="cli", show_default=True, help="what the token is for")
@click.option("--scope", type=click.Choice(TOKEN_SCOPES), default="admin", show_default=True)
@click.option("--expires-days", type=click.IntRange(1, 3650), help="default: never expires")
@click.argument("email")
def users_token(slug, name, scope, expires_days, email):
    """Print a new API token for a user, alone on the line."""
    company = _company(slug)
    user = db.session.scalar(sa.select(User).where(User.company_id == company.id,
                                                   User.email_key == email_key(email)))
    if user is None or not user.is_active:
        raise click.ClickException(f"No active user {email} in {slug}.")
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    _token, plain = tokens.issue(user, name[:100], scope, expires, via="cli")
    db.session.commit()
    click.echo(plain)


def _user(slug: str, email: str) -> User:
    company = _company(slug)
    user = db.session.scalar(sa.select(User).where(User.company_id == company.id,
                                                   User.email_key == email_key(email)))
    if user is None:
        raise click.ClickException(f"No user {email} in {slug}.")
    return user


@users.command("invite")
@click.option("--company", "slug", required=True)
@click.option("--name", default="", help="for a new user")
@click.argument("email")
def users_invite(slug, email, name):
    """Email a user (made now if new) a one-time link to set a password."""
    company = _company(slug)
    user = db.session.scalar(sa.select(User).where(User.company_id == company.id,
                                                   User.email_key == email_key(email)))
    try:
        if user is None:
            user = accounts.create(company, {"email": email, "name": name}, frozenset())
        accounts.invite(user)
    except InputError as exc:
        db.session.rollback()
        _fail(exc)
    db.session.commit()
    click.echo(f"invited {user.email}: the link works once, for "
               f"{current_app.config['INVITE_TTL_HOURS']} hours")


@users.command("set-password")
@click.option("--company", "slug", required=True)
@click.argument("email")
def users_set_password(slug, email):
    """Set a user's password: prompted for, or read from standard input (its first line)."""
    user = _user(slug, email)
    if sys.stdin.isatty():
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        if user.is_group:
            raise InputError({"email": "A group email cannot log in."})
        accounts.set_password(user, password, via="cli")
    except InputError as exc:
        db.session.rollback()
        _fail(exc)
    db.session.commit()
    click.echo(f"password set for {user.email}")


@demo.command("seed")
@click.option("--company", "slug", required=True)
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 3650))
@click.option("--messages", default=5000, show_default=True, type=click.IntRange(0))
def demo_seed(slug, days, messages):
    """Generate realistic communications data for a company."""

    started = time.monotonic()
    counts = seed(_company(slug), now=datetime.now(UTC), days=days, messages=messages)
    db.session.commit()
    elapsed = time.monotonic() - started
    click.echo(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()))
    click.echo(f"{sum(counts.values())} rows in {elapsed:.1f} s "
               f"({sum(counts.values()) / max(elapsed, 1e-9):,.0f} rows/s)")


@demo.command("quickstart")
def demo_quickstart():
    """On a new database: a demo company, its admin, demo data and a daily task."""

    existing = db.session.scalar(sa.select(Company).order_by(Company.id).limit(1))
    if existing is not None:
        click.echo("The database is set up already: log in with your existing account.")
        return
    password = secrets.token_urlsafe(12)
    company = create_company("Demo Bank", "Europe/London", DEMO_ADMIN, password)
    now = datetime.now(UTC)
    seed(company, now=now)
    data_in = task_service.validate(company, {
        "name": "Rooms, every morning", "report_type": "usage_by_rooms",
        "channels": ["whatsapp", "imessage", "sms"],
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": [DEMO_ADMIN, "compliance-team@demo.example"]}})
    task_service.save(company, data_in, now)
    db.session.commit()
    path = current_app.instance_path + "/demo-login.txt"
    with open(path, "w") as fh:
        fh.write(f"{DEMO_ADMIN}\n{password}\n")
    # `serve` prints the URL once it listens (the port is its to choose).
    click.echo(f"\n  Log in as {DEMO_ADMIN} with password {password}\n"
               f"  (also kept in {path})\n")


@data.command("import")
@click.option("--company", "slug", required=True)
@click.argument("kind")
@click.argument("file", type=click.File("rb"))
def data_import(slug, kind, file):
    """Import an NDJSON file of KIND records (org-units, users, accounts, rooms, messages,
    violations, irregularities, export-emails)."""

    if kind not in KINDS:
        raise click.ClickException(f"KIND must be one of {', '.join(KINDS)}.")
    result = ingest(_company(slug).id, kind, file)
    for err in result.errors:
        click.echo(f"line {err['line']}: rejected ({err['reason']})", err=True)
    click.echo(f"{result.created} created, {result.updated} updated, {result.rejected} rejected")
    if result.rejected:
        raise SystemExit(1)


@secrets_group.command("rotate")
def secrets_rotate():
    """Re-encrypt every stored secret under the newest key.

    Put the new key first in HERALD_ENCRYPTION_KEY (new,old), run this, then drop the old key.
    """

    try:
        counts = rotate_secrets()
    except SecretUnreadable as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    for (table, column), count in sorted(counts.items()):
        click.echo(f"Re-encrypted {count} {table}.{column} value(s) under the newest key.")


def register_cli(app: Flask) -> None:
    for group in (companies, users, demo, data, secrets_group):
        app.cli.add_command(group)
    from .serve import serve_command

    app.cli.add_command(serve_command)
