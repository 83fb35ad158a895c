"""WhatsApp and iMessage native irregularities: events on corporate numbers in the run's
window, and whether they stopped archiving."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.models import Account, Irregularity, User

from .base import BuildContext, ReportType, in_window


class NativeIrregularities(ReportType):
    key = "native_irregularities"
    name = "WhatsApp and iMessage Native Irregularities report"
    channels = ("whatsapp", "imessage")
    columns = ("occurred_at", "channel", "phone_number", "user_email", "event_type",
               "description", "archiving_stopped")

    def statement(self, ctx: BuildContext):
        return (
            sa.select(Irregularity.occurred_at, Irregularity.channel, Account.identifier,
                      User.email, Irregularity.event_type, Irregularity.description,
                      Irregularity.archiving_stopped)
            .outerjoin(Account, Account.id == Irregularity.account_id)
            .outerjoin(User, User.id == Account.user_id)
            .where(Irregularity.company_id == ctx.company_id,
                   Irregularity.channel.in_(ctx.channels),
                   in_window(Irregularity.occurred_at, ctx))
            .order_by(Irregularity.occurred_at, Irregularity.external_id)
        )
