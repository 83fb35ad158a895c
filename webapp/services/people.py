"""Creating companies and users."""

from __future__ import annotations

import sqlalchemy as sa
from flask import has_request_context
from flask_login import current_user

from jobs.schedule import is_timezone
from roles.permissions import ADMIN_ROLE
from roles.viewer import ensure_builtin_roles, sync_recipient_roles

from ..extensions import db
from ..models import Company, Role, RoleAssignment, SsoIdentity, User
from ..models.tenancy import slugify
from ..models.users import email_key
from ..schemas.fields import email_address, one_line
from .errors import Conflict, InputError


def acting_user_id() -> int | None:
    """The logged-in user making a change (portal or API token), or None (the CLI, a job)."""
    return current_user.id if has_request_context() and current_user.is_authenticated \
        else None


def normalise_email(value: str, field: str = "email") -> str:
    """An address's normal form (webapp/schemas/fields.py: syntax only); InputError if bad."""
    try:
        return email_address(value)
    except ValueError as exc:
        raise InputError({field: str(exc)}) from None


def create_company(name: str, timezone: str, admin_email: str | None = None,
                   admin_password: str | None = None) -> Company:
    errors = {}
    if not name or not name.strip():
        errors["name"] = "Company name is required."
    elif not one_line(name) or len(name.strip()) > 200:
        errors["name"] = "Company name must be one line of at most 200 characters."
    if not is_timezone(timezone):
        errors["timezone"] = "Time zone must be an IANA name such as Europe/London."
    if errors:
        raise InputError(errors)
    base = slugify(name)
    slug, n = base, 1
    while db.session.scalar(sa.select(Company.id).where(Company.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    company = Company(name=name.strip(), slug=slug, timezone=timezone)
    db.session.add(company)
    db.session.flush()
    ensure_builtin_roles(company)
    if admin_email:
        create_user(company, admin_email, password=admin_password, name="Administrator",
                    roles=[ADMIN_ROLE])
    return company


def create_user(company: Company, email: str, *, password: str | None = None, name: str = "",
                is_group: bool = False, roles: list[str] | tuple = ()) -> User:
    address = normalise_email(email)
    if db.session.scalar(sa.select(User.id).where(
            User.company_id == company.id, User.email_key == email_key(address))):
        raise Conflict({"email": f"A user with the email {address} already exists."})
    if is_group and roles:
        raise InputError({"role": "A group email cannot hold a role."})
    if password is not None and len(password) < 8:
        raise InputError({"password": "Password must have at least 8 characters."})
    user = User(company_id=company.id, name=name or "", is_group=is_group)
    user.set_email(address)
    if password:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    for role_name in roles:
        role = db.session.scalar(sa.select(Role).where(
            Role.company_id == company.id, Role.name == role_name))
        if role is None:
            raise InputError({"role": f"No role named “{role_name}” in this company."})
        db.session.add(RoleAssignment(user_id=user.id, role_id=role.id, source="manual"))
    db.session.flush()
    sync_recipient_roles(company.id)  # the new user may already be a task recipient
    return user


def is_portal_user(user: User) -> bool:
    """Can log in or holds a role: a password, an SSO identity or any role assignment."""
    return bool(user.password_hash) or db.session.scalar(
        sa.select(sa.literal(True)).where(sa.or_(
            sa.exists().where(SsoIdentity.user_id == user.id),
            sa.exists().where(RoleAssignment.user_id == user.id)))) is True


def ingest_conflict(user: User, values: dict) -> str | None:
    """Why an ingested ``users`` record may not be applied to this user, or None. Ingestion
    never changes a portal user's login email or group flag (nor, so, its roles); the other
    fields (name, org unit) it may. Drops the email from ``values`` when it is the same."""
    if not is_portal_user(user):
        return None
    if values.get("email_key", user.email_key) != user.email_key:
        return (f"would change the login email of portal user {user.email} to "
                f"{values['email']}; change it in the portal instead")
    if "is_group" in values and bool(values["is_group"]) != user.is_group:
        return (f"would make portal user {user.email} "
                f"{'a group email' if values['is_group'] else 'a person'}; change it in the "
                "portal instead")
    values.pop("email", None)
    return None
