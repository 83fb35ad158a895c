"""WeCom native irregularities in the run's window, optionally only those of some org units
and their sub-units (the task's ``org_unit_ids``, the source system's ids)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from webapp.models import Irregularity, OrgUnit, Room

from .base import BuildContext, ReportType, in_window


def units_under(company_id: int, external_ids: list[str]):
    """A recursive CTE of the ids of those org units and everything below them (UNION, so a
    cycle in bad source data ends the recursion instead of looping)."""
    top = (sa.select(OrgUnit.id.label("id"))
           .where(OrgUnit.company_id == company_id, OrgUnit.external_id.in_(external_ids))
           .cte("selected_units", recursive=True))
    child = aliased(OrgUnit)
    return top.union(sa.select(child.id).where(child.parent_id == top.c.id,
                                               child.company_id == company_id))


class WeComIrregularities(ReportType):
    key = "wecom_irregularities"
    name = "WeCom Native Irregularities report"
    channels = ("wecom",)
    options = ("org_unit_ids",)
    columns = ("occurred_at", "org_unit", "room_id", "room_name", "event_type", "contact",
               "details")

    def statement(self, ctx: BuildContext):
        unit_id = sa.func.coalesce(Irregularity.org_unit_id, Room.org_unit_id)
        stmt = (
            sa.select(Irregularity.occurred_at, OrgUnit.name, Room.external_id, Room.name,
                      Irregularity.event_type, Irregularity.contact, Irregularity.description)
            .outerjoin(Room, Room.id == Irregularity.room_id)
            .outerjoin(OrgUnit, OrgUnit.id == unit_id)
            .where(Irregularity.company_id == ctx.company_id, Irregularity.channel == "wecom",
                   Irregularity.channel.in_(ctx.channels),
                   in_window(Irregularity.occurred_at, ctx))
            .order_by(Irregularity.occurred_at, Irregularity.external_id)
        )
        selected = [str(u) for u in ctx.options.get("org_unit_ids") or ()]
        if selected:
            units = units_under(ctx.company_id, selected)
            stmt = stmt.where(unit_id.in_(sa.select(units.c.id)))
        return stmt
