"""Room Metadata: every governed room on the selected channels as of the run, with its
participants and its last message."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.models import Message, OrgUnit, Room, User
from webapp.models.types import UTCDateTime

from .base import ALL_CHANNELS, BuildContext, ReportType
from .cells import fenced


class RoomMetadata(ReportType):
    key = "room_metadata"
    name = "Room Metadata report"
    channels = ALL_CHANNELS
    columns = ("channel", "room_id", "room_name", "room_type", "org_unit", "created_at",
               "owner_email", "participants", "internal_participants", "external_participants",
               "last_message_at")
    snapshot = True

    def statement(self, ctx: BuildContext):
        last_message = sa.type_coerce(
            sa.select(sa.func.max(Message.sent_at))
            .where(Message.room_id == Room.id, Message.sent_at <= ctx.now)
            .scalar_subquery(), UTCDateTime)
        # fenced: the last message is looked up once per room, not once per use in its cell
        rooms = fenced(
            sa.select(Room.channel, Room.external_id, Room.name, Room.type,
                      OrgUnit.name.label("org_unit"), Room.created_at,
                      User.email.label("owner_email"), Room.participants,
                      Room.internal_participants, Room.external_participants,
                      last_message.label("last_message_at"))
            .outerjoin(OrgUnit, OrgUnit.id == Room.org_unit_id)
            .outerjoin(User, User.id == Room.owner_user_id)
            .where(Room.company_id == ctx.company_id, Room.channel.in_(ctx.channels),
                   Room.governed.is_(True))
        ).subquery()
        return sa.select(*rooms.c).order_by(rooms.c.channel, rooms.c.external_id)
