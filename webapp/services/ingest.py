"""NDJSON ingestion of communications data (docs/product.md §7): validate each line, resolve the
source ids it refers to, upsert by the record's own ``id``. A bad line is rejected alone,
with its line number and reason; the good ones are kept. Input is read line by line in
batches, so a large body is never held in memory.

Records that may refer to each other within a batch (org units) or that meet portal users
(users) are applied row by row; every other kind is applied set-based, one multi-row
INSERT for the new ids and one bulk UPDATE by primary key for the known ones."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from marshmallow import Schema, ValidationError

from roles.viewer import sync_recipient_roles

from .. import strict_json
from ..extensions import db
from ..models import Account, ExportEmail, Irregularity, Message, OrgUnit, Room, User, Violation
from ..models.users import email_key
from ..schemas.records import (
    AccountRecord,
    ExportEmailRecord,
    IrregularityRecord,
    MessageRecord,
    OrgUnitRecord,
    RoomRecord,
    UserRecord,
    ViolationRecord,
)
from .errors import InputError
from .ndjson import MAX_LINE_BYTES, LineTooLong
from .people import ingest_conflict, normalise_email

BATCH = 1000
MAX_ERRORS_REPORTED = 1000


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
        # a portal user is the same record (docs/product.md §7)
        if row_id is None and model is User:
            row_id = db.session.scalar(sa.select(User.id).where(
                User.company_id == company_id, User.email_key == values["email_key"],
                User.external_id.is_(None)))
        if row_id is None:
            row = model(company_id=company_id, external_id=record["id"])
            db.session.add(row)
        else:
            row = db.session.get(model, row_id)
            if model is User and (conflict := ingest_conflict(row, values)):
                result.reject(number, record["id"], conflict)
                continue
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
    if model is User:  # new or changed users may be task recipients (docs/product.md §6)
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
