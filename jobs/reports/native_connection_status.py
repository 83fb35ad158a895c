"""Native channel connection status (health check): every corporate number on the selected
native channels with its connection status, as of the run."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.models import Account, OrgUnit, User

from .base import BuildContext, ReportType


class NativeConnectionStatus(ReportType):
    key = "native_connection_status"
    name = "Native channel connection status report (Health check report)"
    channels = ("whatsapp", "imessage")
    columns = ("channel", "phone_number", "user_email", "user_name", "org_unit", "status",
               "status_since", "last_activity_at")
    server_upload = True
    snapshot = True

    def statement(self, ctx: BuildContext):
        return (
            sa.select(Account.channel, Account.identifier, User.email, User.name, OrgUnit.name,
                      Account.status, Account.status_since, Account.last_activity_at)
            .outerjoin(User, User.id == Account.user_id)
            .outerjoin(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(Account.company_id == ctx.company_id, Account.channel.in_(ctx.channels))
            .order_by(Account.channel, Account.identifier, Account.id)
        )
