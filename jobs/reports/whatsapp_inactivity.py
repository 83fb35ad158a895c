"""WhatsApp inactivity: corporate numbers with no message for at least the task's threshold
(1–30 days, default 14), as of the run."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from webapp.models import Account, Message, OrgUnit, User
from webapp.models.types import UTCDateTime

from .base import BuildContext, ReportType, whole_days
from .cells import fenced

DEFAULT_DAYS = 14


def last_activity(now):
    """The later of the account's recorded last activity and its last ingested message up
    to ``now`` (one index lookup per account)."""
    last_message = (sa.select(sa.func.max(Message.sent_at))
                    .where(Message.account_id == Account.id, Message.sent_at <= now)
                    .scalar_subquery())
    recorded = Account.last_activity_at
    return sa.type_coerce(sa.case(
        (last_message.is_(None), recorded),
        (recorded.is_(None), last_message),
        (last_message > recorded, last_message),
        else_=recorded), UTCDateTime)


class WhatsAppInactivity(ReportType):
    key = "whatsapp_inactivity"
    name = "WhatsApp inactivity report"
    channels = ("whatsapp",)
    options = ("inactivity_days",)
    columns = ("phone_number", "user_email", "user_name", "org_unit", "status",
               "last_activity_at", "inactive_days")
    snapshot = True

    def statement(self, ctx: BuildContext):
        days = int(ctx.options.get("inactivity_days") or DEFAULT_DAYS)
        now = ctx.now
        last = last_activity(now).label("last")
        # fenced: the last activity is computed once per account, not once per use
        inner = fenced(
            sa.select(Account.id, Account.identifier, User.email, User.name,
                      OrgUnit.name.label("org_unit"), Account.status, last)
            .outerjoin(User, User.id == Account.user_id)
            .outerjoin(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(Account.company_id == ctx.company_id, Account.channel == "whatsapp",
                   Account.channel.in_(ctx.channels))
        ).subquery()
        # never active: no date to count from, so the days are left empty (NULL)
        return (
            sa.select(inner.c.identifier, inner.c.email, inner.c.name, inner.c.org_unit,
                      inner.c.status, inner.c.last,
                      whole_days(sa.literal(now, UTCDateTime), inner.c.last))
            .where(sa.or_(inner.c.last.is_(None), inner.c.last <= now - timedelta(days=days)))
            .order_by(inner.c.identifier, inner.c.id)
        )
