"""Chat Usage report by Rooms: messages per room in the run's window."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.models import Message, OrgUnit, Room

from .base import BuildContext, ReportType, in_window


class UsageByRooms(ReportType):
    key = "usage_by_rooms"
    name = "Chat Usage report by Rooms"
    channels = ("whatsapp", "imessage", "sms")
    columns = ("channel", "room_id", "room_name", "room_type", "org_unit", "messages_sent",
               "messages_received", "messages_total")

    def statement(self, ctx: BuildContext):
        sent = sa.func.sum(sa.case((Message.direction == "sent", 1), else_=0))
        received = sa.func.sum(sa.case((Message.direction == "sent", 0), else_=1))
        counts = (
            sa.select(Message.room_id.label("room_id"), sent.label("sent"),
                      received.label("received"), sa.func.count().label("total"))
            .where(Message.company_id == ctx.company_id, in_window(Message.sent_at, ctx))
            .group_by(Message.room_id)
            .subquery()
        )
        return (
            sa.select(Room.channel, Room.external_id, Room.name, Room.type, OrgUnit.name,
                      counts.c.sent, counts.c.received, counts.c.total)
            .join(counts, counts.c.room_id == Room.id)
            .outerjoin(OrgUnit, OrgUnit.id == Room.org_unit_id)
            .where(Room.company_id == ctx.company_id, Room.channel.in_(ctx.channels))
            .order_by(Room.channel, Room.external_id)
        )
