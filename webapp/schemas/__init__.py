"""The API's shapes: one marshmallow schema per shape loads the input (the services call
them), dumps the records (the API views) and describes both in /api/v1/openapi.json."""

from __future__ import annotations

from marshmallow import Schema

from .lists import (
    AuditEventSchema,
    AuditPageSchema,
    RunPageSchema,
    TaskListItemSchema,
    TaskPageSchema,
)
from .misc import ErrorSchema, IngestResultSchema, IngestTooLargeSchema
from .people import (
                     AssignmentInputSchema,
                     AtRiskSchema,
                     PermissionSchema,
                     RoleSchema,
                     SsoLinkSchema,
                     SsoSettingsSchema,
                     UserSchema,
)
from .preview import PreviewSchema
from .runs import RunSchema, RunSummarySchema
from .tasks import ConnectionTestSchema, ReportTypeSchema, ServerSchema, TaskSchema
from .tokens import TokenCreatedSchema, TokenSchema
from .users import InvitationSchema, UserInputSchema, UserPatchSchema

# Nested schemas first: the marshmallow plugin names a nested schema when it meets it, so a
# schema registered after a schema that nests it would be registered twice.
SCHEMAS: dict[str, type[Schema]] = {
    "Error": ErrorSchema, "ReportType": ReportTypeSchema, "Run": RunSchema,
    "RunSummary": RunSummarySchema,
    "Server": ServerSchema, "ConnectionTest": ConnectionTestSchema, "Task": TaskSchema,
    "Preview": PreviewSchema, "IngestResult": IngestResultSchema,
    "IngestTooLarge": IngestTooLargeSchema,
    "Permission": PermissionSchema, "Role": RoleSchema, "AssignmentInput": AssignmentInputSchema,
    "SsoLink": SsoLinkSchema, "User": UserSchema, "AtRisk": AtRiskSchema,
    "SsoSettings": SsoSettingsSchema,
    "UserInput": UserInputSchema, "UserPatch": UserPatchSchema, "Invitation": InvitationSchema,
    "Token": TokenSchema, "TokenCreated": TokenCreatedSchema,
    "TaskListItem": TaskListItemSchema, "TaskPage": TaskPageSchema, "RunPage": RunPageSchema,
    "AuditEvent": AuditEventSchema, "AuditPage": AuditPageSchema,
}
