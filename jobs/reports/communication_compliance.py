"""Communication Compliance: DLP and room-condition violations in the run's window, counted
per local day (the task's time zone), channel, type, policy, room and user."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.models import Room, User, Violation

from .base import ALL_CHANNELS, BuildContext, ReportType, in_window, local_day


class CommunicationCompliance(ReportType):
    key = "communication_compliance"
    name = "Communication Compliance report"
    channels = ALL_CHANNELS
    columns = ("date", "channel", "violation_type", "policy", "room_id", "room_name",
               "user_email", "violations", "blocked", "flagged")

    def statement(self, ctx: BuildContext):
        # the day is computed in a subquery and grouped by name: PostgreSQL would not see a
        # CASE with bound parameters in SELECT and GROUP BY as the same expression
        events = (
            sa.select(local_day(Violation.occurred_at, ctx).label("day"),
                      Room.channel.label("channel"), Violation.type.label("type"),
                      Violation.policy.label("policy"), Room.external_id.label("room_id"),
                      Room.name.label("room_name"),
                      sa.func.coalesce(User.email, "").label("user_email"),
                      Violation.action.label("action"))
            .join(Room, Room.id == Violation.room_id)
            .outerjoin(User, User.id == Violation.user_id)
            .where(Violation.company_id == ctx.company_id,
                   in_window(Violation.occurred_at, ctx), Room.channel.in_(ctx.channels))
            .subquery()
        )
        keys = (events.c.day, events.c.channel, events.c.type, events.c.policy,
                events.c.room_id, events.c.room_name, events.c.user_email)
        return (
            sa.select(*keys, sa.func.count(),
                      sa.func.sum(sa.case((events.c.action == "blocked", 1), else_=0)),
                      sa.func.sum(sa.case((events.c.action == "flagged", 1), else_=0)))
            .group_by(*keys)
            .order_by(*keys)
        )
