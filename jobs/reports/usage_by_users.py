"""Chat Usage report by Users: messages per corporate account in the run's window; every
account on a selected channel has a row, idle ones with zero counts."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.models import Account, Message, OrgUnit, User

from .base import BuildContext, ReportType, in_window


class UsageByUsers(ReportType):
    key = "usage_by_users"
    name = "Chat Usage report by Users"
    channels = ("whatsapp", "imessage", "sms")
    columns = ("channel", "user_email", "user_name", "org_unit", "phone_number",
               "messages_sent", "messages_received", "messages_total")

    def statement(self, ctx: BuildContext):
        sent = sa.func.sum(sa.case((Message.direction == "sent", 1), else_=0))
        counts = (
            sa.select(Message.account_id.label("account_id"), sent.label("sent"),
                      sa.func.count().label("total"))
            .where(Message.company_id == ctx.company_id, in_window(Message.sent_at, ctx),
                   Message.account_id.is_not(None))
            .group_by(Message.account_id)
            .subquery()
        )
        sent_n = sa.func.coalesce(counts.c.sent, 0)
        total = sa.func.coalesce(counts.c.total, 0)
        return (
            sa.select(Account.channel, User.email, User.name, OrgUnit.name, Account.identifier,
                      sent_n, total - sent_n, total)
            .outerjoin(counts, counts.c.account_id == Account.id)
            .outerjoin(User, User.id == Account.user_id)
            .outerjoin(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(Account.company_id == ctx.company_id, Account.channel.in_(ctx.channels))
            .order_by(Account.channel, sa.func.coalesce(User.email, ""), Account.identifier,
                      Account.id)
        )
