"""SQLAlchemy models, one module per aggregate."""

from .audit import AuditEvent
from .comms import Account, Message, OrgUnit, Room
from .compliance import ExportEmail, Irregularity, Violation
from .mail import HeldAccountMail
from .runs import Delivery, OutboxMessage, Run
from .sso import SsoIdentity, SsoSettings
from .tasks import Task, TaskRecipient
from .tenancy import Company
from .users import ApiToken, LoginSession, Role, RoleAssignment, User

__all__ = ["Account", "ApiToken", "AuditEvent", "Company", "Delivery", "ExportEmail",
           "HeldAccountMail", "Irregularity", "LoginSession", "Message", "OrgUnit",
           "OutboxMessage", "Role", "RoleAssignment", "Room", "Run", "SsoIdentity",
           "SsoSettings", "Task", "TaskRecipient", "User", "Violation"]
