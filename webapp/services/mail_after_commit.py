"""Account mail (an invitation, a password link) is handed to a worker only once the database
transaction that made it has committed, and never when it rolls back.

A link fingerprints what the transaction writes (the invitation's time, the password hash):
a mail queued before the commit could go out for a change that is then rolled back (a link
that never works), or be sent by a fast worker before the commit is visible. So
:func:`send_after_commit` keeps the message in the session (``Session.info``) and the
session's events decide:

- ``after_commit`` of the outermost transaction: every kept message is enqueued
  (jobs/account_mail.py), in the order they were made;
- ``after_soft_rollback``: the messages made within the transaction rolled back (the whole
  transaction, or a savepoint and what it contains) are dropped, unsent;
- ``after_transaction_end`` of the outermost transaction drops whatever is left (a session
  closed without a commit, at the end of a request or job).

A savepoint's commit (``begin_nested``) only passes its messages on to the enclosing
transaction.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction

from jobs import account_mail

from ..extensions import db

KEY = "herald_mail_after_commit"  # Session.info[KEY]: [(message, company id, transaction)]

log = logging.getLogger(__name__)


def send_after_commit(message: EmailMessage, company_id: int) -> None:
    """Enqueue ``message`` for a worker when the current transaction commits."""
    session = db.session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:  # no transaction yet: the next one to commit carries it
        transaction = session.begin()
    session.info.setdefault(KEY, []).append((message, company_id, transaction))


def pending(session: Session | None = None) -> int:
    """How many messages wait for the commit (tests)."""
    return len((session or db.session()).info.get(KEY, ()))


@sa.event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.get_nested_transaction() is not None or not session.info.get(KEY):
        return  # a savepoint's commit: its messages wait for the outermost one
    messages = session.info.pop(KEY)
    for message, company_id, _ in messages:
        # Committed already: a Redis that fails now cannot undo it, and must not hide
        # the other messages, so each failure is logged (the link can be asked for again).
        try:
            account_mail.enqueue(message, company_id)
        except Exception:
            log.exception("Account mail for company %s could not be queued", company_id)


@sa.event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    kept = session.info.get(KEY)
    if kept:
        session.info[KEY] = [entry for entry in kept if not _within(entry[2], previous)]


@sa.event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost one, committed (sent above) or not
        session.info.pop(KEY, None)


def _within(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False
