"""Archiving Export Email Summary: every email that exported a room's messages to the
archive in the run's window, with its outcome."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.models import ExportEmail, Room

from .base import ALL_CHANNELS, BuildContext, ReportType, in_window


class ArchiveExportEmailSummary(ReportType):
    key = "archive_export_email_summary"
    name = "Archiving Export Email Summary report"
    channels = ALL_CHANNELS
    columns = ("exported_at", "channel", "room_id", "room_name", "messages", "archive_address",
               "email_message_id", "size_bytes", "status", "smtp_response")

    def _where(self, ctx: BuildContext):
        return (ExportEmail.company_id == ctx.company_id, Room.channel.in_(ctx.channels),
                in_window(ExportEmail.exported_at, ctx))

    def statement(self, ctx: BuildContext):
        return (
            sa.select(ExportEmail.exported_at, Room.channel, Room.external_id, Room.name,
                      ExportEmail.messages, ExportEmail.archive_address,
                      ExportEmail.email_message_id, ExportEmail.size_bytes, ExportEmail.status,
                      ExportEmail.smtp_response)
            .join(Room, Room.id == ExportEmail.room_id)
            .where(*self._where(ctx))
            .order_by(ExportEmail.exported_at, ExportEmail.external_id)
        )

    def summary(self, row_count: int, session, ctx: BuildContext) -> str:
        sent, failed = session.execute(
            sa.select(sa.func.sum(sa.case((ExportEmail.status == "sent", 1), else_=0)),
                      sa.func.sum(sa.case((ExportEmail.status == "failed", 1), else_=0)))
            .join(Room, Room.id == ExportEmail.room_id)
            .where(*self._where(ctx))).one()
        return (f"{row_count} export email{'s' if row_count != 1 else ''}: "
                f"{int(sent or 0)} sent, {int(failed or 0)} failed")
