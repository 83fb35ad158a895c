"""Creating companies and users."""

from __future__ import annotations

import sqlalchemy as sa

from jobs.schedule import is_timezone
from roles.permissions import ADMIN_ROLE
from roles.viewer import ensure_builtin_roles, sync_recipient_roles

from ..extensions import db
from ..models import Company, Role, RoleAssignment, User
from ..models.tenancy import slugify
from ..models.users import email_key
from ..schemas.fields import email_address
from .errors import InputError


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
        raise InputError({"email": f"A user with the email {address} already exists."})
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
