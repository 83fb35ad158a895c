"""NDJSON ingestion of communications data (SPEC §7): validate each line, resolve the
source ids it refers to, upsert by the record's own ``id``. A bad line is rejected alone,
with its line number and reason; the good ones are kept. Input is read line by line in
batches, so a large body is never held in memory.

Records that may refer to each other within a batch (org units) or that meet portal users
(users) are applied row by row; every other kind is applied set-based, one multi-row
INSERT for the new ids and one bulk UPDATE by primary key for the known ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate

from .. import strict_json
from ..extensions import db
from ..models import Account, ExportEmail, Irregularity, Message, OrgUnit, Room, User, Violation
from ..models.comms import ACCOUNT_STATUSES, CHANNELS, DIRECTIONS, ROOM_TYPES
from ..models.compliance import EXPORT_STATUSES, VIOLATION_ACTIONS, VIOLATION_TYPES
from ..models.users import email_key
from .people import InputError, normalise_email

BATCH = 1000
MAX_ERRORS_REPORTED = 1000
MAX_LINE_BYTES = 1 << 20  # a longer line is rejected unread, so memory stays bounded
READ_SIZE = 1 << 16


class BodyTooLarge(Exception):
    """The body went over its limit; the batches committed before are counted."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class LineTooLong:
    """Stands for a line over MAX_LINE_BYTES, which is skipped rather than held in memory."""


def ndjson_lines(read: Callable[[int], bytes], max_bytes: int | None = None
                 ) -> Iterator[bytes | LineTooLong]:
    """The lines of a byte stream read with ``read(size)`` (a WSGI server's input, a file),
    in chunks: neither the body nor an overlong line is ever held whole. Raises BodyTooLarge
    once more than ``max_bytes`` have arrived."""
    total = 0
    pending = b""
    skipping = False  # inside a line over MAX_LINE_BYTES, until its newline
    while chunk := read(READ_SIZE):
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise BodyTooLarge(max_bytes)
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if skipping:
                skipping = False
            else:
                line = pending + chunk[start:end] if pending else chunk[start:end]
                yield LineTooLong() if len(line) > MAX_LINE_BYTES else line
            pending = b""
            start = end + 1
        if not skipping:
            pending += chunk[start:]
            if len(pending) > MAX_LINE_BYTES:
                pending, skipping = b"", True
                yield LineTooLong()
    if pending and not skipping:
        yield pending


class _Record(Schema):
    id = fields.String(required=True, validate=validate.Length(1, 200))


class OrgUnitRecord(_Record):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    parent_id = fields.String(allow_none=True, load_default=None)


class UserRecord(_Record):
    email = fields.String(required=True)
    name = fields.String(load_default="", validate=validate.Length(max=200))
    org_unit_id = fields.String(allow_none=True, load_default=None)
    is_group = fields.Boolean(load_default=False)


class AccountRecord(_Record):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    identifier = fields.String(required=True, validate=validate.Length(1, 200))
    user_id = fields.String(allow_none=True, load_default=None)
    status = fields.String(load_default="connected", validate=validate.OneOf(ACCOUNT_STATUSES))
    status_since = fields.AwareDateTime(allow_none=True, load_default=None)
    last_activity_at = fields.AwareDateTime(allow_none=True, load_default=None)


class RoomRecord(_Record):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    name = fields.String(load_default="", validate=validate.Length(max=500))
    type = fields.String(required=True, validate=validate.OneOf(ROOM_TYPES))
    org_unit_id = fields.String(allow_none=True, load_default=None)
    governed = fields.Boolean(load_default=True)
    owner_user_id = fields.String(allow_none=True, load_default=None)
    created_at = fields.AwareDateTime(allow_none=True, load_default=None)
    participants = fields.Integer(load_default=0, validate=validate.Range(min=0))
    internal_participants = fields.Integer(load_default=0, validate=validate.Range(min=0))
    external_participants = fields.Integer(load_default=0, validate=validate.Range(min=0))


class MessageRecord(_Record):
    room_id = fields.String(required=True)
    account_id = fields.String(allow_none=True, load_default=None)
    direction = fields.String(required=True, validate=validate.OneOf(DIRECTIONS))
    sent_at = fields.AwareDateTime(required=True)


class ViolationRecord(_Record):
    room_id = fields.String(required=True)
    user_id = fields.String(allow_none=True, load_default=None)
    type = fields.String(required=True, validate=validate.OneOf(VIOLATION_TYPES))
    policy = fields.String(required=True, validate=validate.Length(1, 200))
    action = fields.String(required=True, validate=validate.OneOf(VIOLATION_ACTIONS))
    occurred_at = fields.AwareDateTime(required=True)


class IrregularityRecord(_Record):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    account_id = fields.String(allow_none=True, load_default=None)
    room_id = fields.String(allow_none=True, load_default=None)
    org_unit_id = fields.String(allow_none=True, load_default=None)
    event_type = fields.String(required=True, validate=validate.Length(1, 64))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    contact = fields.String(allow_none=True, load_default=None,
                            validate=validate.Length(max=200))
    archiving_stopped = fields.Boolean(load_default=False)
    occurred_at = fields.AwareDateTime(required=True)


class ExportEmailRecord(_Record):
    room_id = fields.String(required=True)
    messages = fields.Integer(load_default=0, validate=validate.Range(min=0))
    archive_address = fields.String(required=True, validate=validate.Length(1, 254))
    email_message_id = fields.String(load_default="", validate=validate.Length(max=500))
    size_bytes = fields.Integer(load_default=0, validate=validate.Range(min=0))
    status = fields.String(required=True, validate=validate.OneOf(EXPORT_STATUSES))
    smtp_response = fields.String(load_default="", validate=validate.Length(max=10_000))
    exported_at = fields.AwareDateTime(required=True)


@dataclass(frozen=True)
class Kind:
    model: type
    schema: Schema
    refs: dict  # record field → (model, column to set)
    set_based: bool = True  # False: row by row (in-batch references, portal users)


KINDS: dict[str, Kind] = {
    "org-units": Kind(OrgUnit, OrgUnitRecord(), {"parent_id": (OrgUnit, "parent_id")},
                      set_based=False),
    "users": Kind(User, UserRecord(), {"org_unit_id": (OrgUnit, "org_unit_id")},
                  set_based=False),
    "accounts": Kind(Account, AccountRecord(), {"user_id": (User, "user_id")}),
    "rooms": Kind(Room, RoomRecord(), {"org_unit_id": (OrgUnit, "org_unit_id"),
                                       "owner_user_id": (User, "owner_user_id")}),
    "messages": Kind(Message, MessageRecord(), {"room_id": (Room, "room_id"),
                                                "account_id": (Account, "account_id")}),
    "violations": Kind(Violation, ViolationRecord(), {"room_id": (Room, "room_id"),
                                                      "user_id": (User, "user_id")}),
    "irregularities": Kind(Irregularity, IrregularityRecord(), {
        "account_id": (Account, "account_id"), "room_id": (Room, "room_id"),
        "org_unit_id": (OrgUnit, "org_unit_id")}),
    "export-emails": Kind(ExportEmail, ExportEmailRecord(), {"room_id": (Room, "room_id")}),
}


@dataclass
class IngestResult:
    created: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list = field(default_factory=list)
    committed_through: int = 0  # the last line of the last committed batch
    committed_rejected: int = 0  # lines rejected up to there

    def reject(self, line: int, record_id, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS_REPORTED:
            self.errors.append({"line": line, "id": record_id, "reason": reason})

    def mark_committed(self, line: int) -> None:
        self.committed_through, self.committed_rejected = line, self.rejected

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "rejected": self.rejected,
                "errors": sorted(self.errors, key=lambda e: e["line"])}

    def committed_dict(self) -> dict:
        """What the committed batches did, when the input broke off after them."""
        return {"created": self.created, "updated": self.updated,
                "rejected": self.committed_rejected,
                "errors": [e for e in self.as_dict()["errors"]
                           if e["line"] <= self.committed_through]}


def ingest(company_id: int, kind: str, lines: Iterable[bytes | str | LineTooLong],
           result: IngestResult | None = None) -> IngestResult:
    """Ingest NDJSON lines for one company; commits batch by batch. Pass ``result`` to keep
    the counts of the batches committed when ``lines`` raises (BodyTooLarge)."""
    spec = KINDS[kind]
    result = IngestResult() if result is None else result
    batch: list[tuple[int, dict]] = []
    number = 0
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, LineTooLong):
            result.reject(number, None, f"longer than {MAX_LINE_BYTES} bytes")
            continue
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        try:
            obj = strict_json.loads(text)
            if not isinstance(obj, dict):
                raise ValueError("a line must be one JSON object")
            record = spec.schema.load(obj, unknown="exclude")
        except ValidationError as exc:
            result.reject(number, _id_of(text), _reason(exc.messages))
            continue
        except ValueError as exc:
            result.reject(number, None, f"not valid JSON: {exc}")
            continue
        batch.append((number, record))
        if len(batch) >= BATCH:
            _apply(company_id, spec, batch, result)
            result.mark_committed(number)
            batch = []
    if batch:
        _apply(company_id, spec, batch, result)
    result.mark_committed(number)
    return result


def _id_of(text: str):
    try:
        value = json.loads(text).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str | int) else None


def _reason(messages) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {_reason(v)}" for k, v in messages.items())
    if isinstance(messages, list):
        return " ".join(str(m) for m in messages)
    return str(messages)


def _resolve(company_id: int, model, external_ids: set[str]) -> dict[str, int]:
    if not external_ids:
        return {}
    found = {}
    ids = list(external_ids)
    for i in range(0, len(ids), 500):
        found.update(db.session.execute(sa.select(model.external_id, model.id).where(
            model.company_id == company_id, model.external_id.in_(ids[i:i + 500]))).all())
    return found


def _apply(company_id: int, spec: Kind, batch: list[tuple[int, dict]],
           result: IngestResult) -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        # The id lookups below are the same statement batch after batch, so the driver
        # prepares them; a plan made while the table was small (a first import) would then
        # scan the whole table for every batch once it is large. Plan each with its values.
        db.session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
    existing = _resolve(company_id, spec.model, {r["id"] for _, r in batch})
    # Every id the batch refers to, resolved once; records of this batch may refer to each
    # other (an org unit's parent), so rows created row by row are added as they come.
    known: dict[type, dict[str, int]] = {}
    for ref_field, (ref_model, _column) in spec.refs.items():
        refs = {r[ref_field] for _, r in batch if r.get(ref_field) is not None}
        known.setdefault(ref_model, {}).update(_resolve(company_id, ref_model, refs))
    if spec.set_based and _apply_set(company_id, spec, batch, result, existing, known):
        return
    _apply_rows(company_id, spec, batch, result, existing, known)


def _apply_set(company_id: int, spec: Kind, batch: list[tuple[int, dict]],
               result: IngestResult, existing: dict[str, int],
               known: dict[type, dict[str, int]]) -> bool:
    """One INSERT of the new ids and one UPDATE of the known ones. False (nothing written,
    nothing counted) when the database refuses the set, so the caller goes row by row and
    finds the offending lines."""
    new: dict[str, dict] = {}
    changed: dict[int, dict] = {}
    created = updated = 0
    rejected: list[tuple[int, str, str]] = []
    for number, record in batch:
        try:
            values = _values(spec, record, known)
        except InputError as exc:
            rejected.append((number, record["id"], _reason(exc.fields)))
            continue
        row_id = existing.get(record["id"])
        if row_id is not None:
            changed[row_id] = {"id": row_id, **values}
            updated += 1
        else:  # an id twice in one batch: the later line wins, as it would row by row
            updated += record["id"] in new
            created += record["id"] not in new
            new[record["id"]] = {"company_id": company_id, "external_id": record["id"],
                                 **values}
    try:
        with db.session.begin_nested():
            if new:
                db.session.execute(sa.insert(spec.model), list(new.values()))
            if changed:
                db.session.execute(sa.update(spec.model), list(changed.values()))
    except sa.exc.IntegrityError:  # e.g. a concurrent import created the same id
        return False
    db.session.commit()
    for number, record_id, reason in rejected:
        result.reject(number, record_id, reason)
    result.created += created
    result.updated += updated
    return True


def _apply_rows(company_id: int, spec: Kind, batch: list[tuple[int, dict]],
                result: IngestResult, existing: dict[str, int],
                known: dict[type, dict[str, int]]) -> None:
    model = spec.model
    for number, record in batch:
        try:
            values = _values(spec, record, known)
        except InputError as exc:
            result.reject(number, record["id"], _reason(exc.fields))
            continue
        row_id = existing.get(record["id"])
        if row_id is None and model is User:  # a portal user is the same record (SPEC §7)
            row_id = db.session.scalar(sa.select(User.id).where(
                User.company_id == company_id, User.email_key == values["email_key"],
                User.external_id.is_(None)))
        if row_id is None:
            row = model(company_id=company_id, external_id=record["id"])
            db.session.add(row)
        else:
            row = db.session.get(model, row_id)
            row.external_id = record["id"]
        for key, value in values.items():
            setattr(row, key, value)
        try:
            with db.session.begin_nested():
                db.session.flush()
        except sa.exc.IntegrityError as exc:
            result.reject(number, record["id"], f"conflicts with existing data: {exc.orig}")
            continue
        existing[record["id"]] = row.id
        known.setdefault(model, {})[record["id"]] = row.id
        if row_id is None:
            result.created += 1
        else:
            result.updated += 1
    if model is User:  # new or changed users may be task recipients (SPEC §6)
        from roles.viewer import sync_recipient_roles

        sync_recipient_roles(company_id)
    db.session.commit()


def _values(spec: Kind, record: dict, known: dict[type, dict[str, int]]) -> dict:
    values = {k: v for k, v in record.items() if k != "id" and k not in spec.refs}
    errors = {}
    for ref_field, (ref_model, column) in spec.refs.items():
        ref = record.get(ref_field)
        found = None if ref is None else known.get(ref_model, {}).get(ref)
        if ref is not None and found is None:
            label = ref_model.__tablename__.rstrip("s").replace("_", " ")
            errors[ref_field] = f"unknown {label} id “{ref}”"
        values[column] = found
    if spec.model is User:
        address = normalise_email(values.pop("email"))
        values["email"], values["email_key"] = address, email_key(address)
    if errors:
        raise InputError(errors)
    return values
