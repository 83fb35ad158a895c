"""Small builders shared by the roles tests: tasks through the real service, finished runs
with a real file on disk."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Role, RoleAssignment, Run, Task, User
from webapp.models.users import email_key

CHANNELS = {"usage_by_rooms": ["whatsapp"], "native_connection_status": ["whatsapp"],
            "usage_by_users": ["sms"]}


def make_task(company, emails, report_type="usage_by_rooms", name="Rooms daily",
              task: Task | None = None) -> Task:
    from webapp.services import tasks as task_service

    data = task_service.validate(company, {
        "name": name, "report_type": report_type,
        "channels": CHANNELS.get(report_type, ["whatsapp"]),
        "schedule": {"kind": "daily", "time": "06:30"},
        "recipients": {"emails": list(emails)}}, task)
    saved = task_service.save(company, data, datetime.now(UTC), task)
    db.session.commit()
    return saved


def finished_run(task: Task, body: str = "company,channel\r\nAcme,sms\r\n") -> Run:
    from jobs.reports.storage import report_path

    now = datetime.now(UTC)
    run = Run(company_id=task.company_id, task_id=task.id, trigger="manual",
              window_start=now - timedelta(days=1), window_end=now, status="succeeded",
              finished_at=now, row_count=1, file_name=f"{task.report_type}.csv",
              size_bytes=len(body))
    db.session.add(run)
    db.session.commit()
    path = report_path(run)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as fh:
        fh.write(body)
    return run


def user_by_email(company_id: int, email) -> User:
    return db.session.scalar(sa.select(User).where(User.company_id == company_id,
                                                   User.email_key == email_key(email)))


def held(company_id: int, email) -> set[tuple[str, str]]:
    """(role name, source) of every assignment of the user, fresh from the database."""
    db.session.expire_all()
    user = user_by_email(company_id, email)
    return {(name, source) for name, source in db.session.execute(
        sa.select(Role.name, RoleAssignment.source).join(
            RoleAssignment, RoleAssignment.role_id == Role.id).where(
            RoleAssignment.user_id == user.id))}


def make_role(company, name, permissions) -> Role:
    role = Role(company_id=company.id, name=name, description="", builtin=False,
                permissions=sorted(permissions))
    db.session.add(role)
    db.session.commit()
    return role


def give(user: User, role: Role, source: str = "manual") -> None:
    db.session.add(RoleAssignment(user_id=user.id, role_id=role.id, source=source))
    db.session.commit()
