"""The task form of the portal: its fields ⇄ the API's task shape.

``payload(form)`` turns what the browser posted into the JSON the API takes, so the form goes
through the same service and schema (webapp/services/tasks.py, webapp/schemas/tasks.py);
``values_of(task)`` and ``values_from(form)`` are what the form's fields show.
"""

from __future__ import annotations

from jobs import schedule as sched
from jobs.reports import registry

from ..models import Task
from . import task_series

SERVER_FIELDS = ("server_transport", "server_host", "server_port", "server_username",
                 "server_directory", "server_host_key_fingerprint", "proxy_type", "proxy_host",
                 "proxy_port", "proxy_username")  # the passwords are never echoed back
TEXT_FIELDS = ("name", "report_type", "schedule_kind", "schedule_time", "schedule_every_hours",
               "schedule_every_months", "schedule_day", "schedule_weekday", "timezone",
               "inactivity_days", "org_unit_ids") + SERVER_FIELDS
SECRET_FIELDS = ("server_password", "proxy_password")


def schedule(form) -> dict:
    """The schedule fields (of a posted form or of ``values_from``) in the API's shape."""
    kind = form.get("schedule_kind", "")
    data = {"kind": kind, "time": form.get("schedule_time", ""),
            "timezone": form.get("timezone", "")}
    if kind == "hourly":
        data["every"] = form.get("schedule_every_hours", "")
    elif kind == "monthly":
        data["every"] = form.get("schedule_every_months", "")
        data["day"] = form.get("schedule_day", "")
    elif kind == "weekly":
        data["weekday"] = form.get("schedule_weekday", "")
    return data


def payload(form) -> dict:
    """The posted form in the API's task shape. Only what applies to the report type counts:
    its channels and options, and a server only where it may upload (fields of another type
    stay in the form, hidden, so that switching back finds them)."""
    rtype = registry.get(form.get("report_type", ""))
    channels = form.getlist("channels")
    if rtype is not None:
        channels = [c for c in channels if c in rtype.channels]
    applies = rtype.options if rtype is not None else ("inactivity_days", "org_unit_ids")
    series_fields, series_options = task_series.payload(form)
    options: dict = {"excel_bom": form.get("excel_bom") == "1", **series_options}
    if "inactivity_days" in applies:
        days = form.get("inactivity_days", "14").strip()
        options["inactivity_days"] = int(days) if days.isdigit() else days
    if "org_unit_ids" in applies:
        options["org_unit_ids"] = [o.strip() for o in form.get("org_unit_ids", "").split(",")
                                   if o.strip()]
    uploads = rtype is None or rtype.server_upload
    return {
        **series_fields,
        "name": form.get("name", ""),
        "report_type": form.get("report_type", ""),
        "channels": channels,
        "schedule": schedule(form),
        "recipients": {"emails": [e for e in form.getlist("emails") if e.strip()],
                       "server": server(form) if uploads else None},
        "options": options,
        "active": form.get("active") == "1",
    }


def server(form) -> dict | None:
    """The server fields in the API's shape; an empty password keeps the stored one."""
    transport = form.get("server_transport", "")
    if not transport:
        return None
    proxy = None
    if form.get("proxy_type"):
        proxy = {"type": form.get("proxy_type"), "host": form.get("proxy_host", ""),
                 "port": form.get("proxy_port", ""),
                 "username": form.get("proxy_username", "") or None,
                 "password": form.get("proxy_password", "") or None}
    return {"transport": transport, "host": form.get("server_host", ""),
            "port": form.get("server_port", ""), "username": form.get("server_username", ""),
            "password": form.get("server_password", "") or None,
            "directory": form.get("server_directory", ""),
            "host_key_fingerprint": form.get("server_host_key_fingerprint", "") or None,
            "proxy": proxy}


def _server_values(stored: dict | None) -> dict:
    stored = stored or {}
    proxy = stored.get("proxy") or {}
    return {"server_transport": stored.get("transport") or "",
            "server_host": stored.get("host") or "", "server_port": str(stored.get("port") or ""),
            "server_username": stored.get("username") or "",
            "server_directory": stored.get("directory") or "",
            "server_host_key_fingerprint": stored.get("host_key_fingerprint") or "",
            "proxy_type": proxy.get("type") or "", "proxy_host": proxy.get("host") or "",
            "proxy_port": str(proxy.get("port") or ""),
            "proxy_username": proxy.get("username") or ""}


def values_of(task: Task | None, company_timezone: str) -> dict:
    """The fields of a new task's form, or of the form editing ``task``."""
    if task is None:
        return {"name": "", "report_type": "usage_by_rooms", "channels": [],
                "schedule_kind": "daily", "schedule_time": "06:30", "schedule_every_hours": "4",
                "schedule_every_months": "1", "schedule_day": "1", "schedule_weekday": "mon",
                "timezone": company_timezone, "emails": [""], "inactivity_days": "14",
                "org_unit_ids": "", "excel_bom": False, "active": True, **_server_values(None),
                **task_series.values_of(None)}
    s = sched.of(task)
    return {"name": task.name, "report_type": task.report_type, "channels": task.channels,
            "schedule_kind": s.kind, "schedule_time": task.schedule_time,
            "schedule_every_hours": str(s.every or 4) if s.kind == "hourly" else "4",
            "schedule_every_months": str(s.every or 1) if s.kind == "monthly" else "1",
            "schedule_day": str(s.as_dict().get("day", 1)),
            "schedule_weekday":
                sched.WEEKDAYS[s.weekday] if s.weekday is not None else "mon",
            "timezone": task.timezone, "emails": task.recipient_emails or [""],
            "inactivity_days": str(task.options.get("inactivity_days", 14)),
            "org_unit_ids": ", ".join(task.options.get("org_unit_ids", [])),
            "excel_bom": bool(task.options.get("excel_bom")), "active": task.active,
            **_server_values(task.server), **task_series.values_of(task)}


def values_from(form, company_timezone: str) -> dict:
    """The fields as posted, to show the form again (with its errors, or at another step)."""
    values = {k: form.get(k, "") for k in TEXT_FIELDS}
    values["channels"] = form.getlist("channels")
    values["emails"] = form.getlist("emails") or [""]
    values["excel_bom"] = form.get("excel_bom") == "1"
    values["active"] = form.get("active") == "1"
    # An empty time zone means the company's, as in the API: show the preview in it.
    values["timezone"] = values["timezone"] or company_timezone
    values.update(task_series.values_from(form))
    return values
