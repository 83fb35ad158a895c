"""Account mail (an invitation, a password link) is handed to a worker only once the database
transaction that made it has committed, and never when it rolls back.

A link fingerprints what the transaction writes (the invitation's time, the password hash):
a mail queued before the commit could go out for a change that is then rolled back (a link
that never works), or be sent by a fast worker before the commit is visible. So
:func:`send_after_commit` keeps the message in the session (``Session.info``) and the
session's events decide:

- ``after_commit`` of the outermost transaction: every kept message is enqueued
  (jobs/account_mail.py), in the order they were made. One that Redis refuses (down,
  restarting, unreachable) is held in the database instead (``held_account_mail``, encrypted
  as the job would carry it), with a warning naming the company and the masked address and
  ``herald_account_mails_total{status="held"}`` counted; the dispatcher tick queues it once
  Redis answers again (jobs/account_mail.py ``release_held``). It is lost only if the
  database refuses that row too (an error is logged);
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

from jobs import account_mail, metrics

from ..extensions import db
from ..models import Company, HeldAccountMail
from ..models.types import utcnow

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
        # the other messages, so each one that Redis refuses is held in the database.
        sealed = account_mail.seal(message)
        try:
            account_mail.enqueue_sealed(sealed, company_id)
        except Exception as exc:  # noqa: BLE001 - Redis down, restarting, unreachable
            _hold(sealed, company_id, str(message.get("To", "")), exc)


def _hold(sealed: str, company_id: int, to: str, exc: Exception) -> None:
    """Keep a message Redis refused, for the dispatcher tick (jobs/account_mail.py
    ``release_held``). The session cannot emit SQL within ``after_commit``: a connection
    of its own writes the row."""
    try:
        with db.engine.begin() as conn:
            conn.execute(sa.insert(HeldAccountMail).values(
                company_id=company_id, sealed=sealed, held_at=utcnow()))
            slug = conn.scalar(sa.select(Company.slug).where(Company.id == company_id))
    except Exception:
        log.exception("Account mail to %s (company %s) could not be queued nor held: lost",
                      account_mail.mask(to), company_id)
        return
    log.warning("Account mail to %s (company %s) held: Redis refused it (%s); queued by "
                "the next dispatcher tick", account_mail.mask(to), slug or company_id,
                type(exc).__name__)
    metrics.account_mail("held")


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
