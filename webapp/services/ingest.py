"""NDJSON ingestion of communications data (docs/product.md §7): validate each line, resolve the
source ids it refers to, upsert by the record's own ``id``. A bad line is rejected alone,
with its line number and reason; the good ones are kept. Input is read line by line in
batches, so a large body is never held in memory.

Each line is checked by a loader compiled from its kind's schema (schemas/compiled.py); a
line that loader does not accept is judged by the schema itself, which writes the reason.
Applying a batch is ingest_apply.py's."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from marshmallow import Schema, ValidationError

from .. import strict_json
from ..models import Account, ExportEmail, Irregularity, Message, OrgUnit, Room, User, Violation
from ..schemas.compiled import compile_loader
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
from .ingest_apply import Known, apply_batch, reason
from .ndjson import MAX_LINE_BYTES, LineTooLong

BATCH = 1000
MAX_ERRORS_REPORTED = 1000


@dataclass(frozen=True)
class Kind:
    model: type
    schema: Schema
    refs: dict  # record field → (model, column to set)
    set_based: bool = True  # False: row by row (in-batch references, portal users)
    fast: Callable[[dict], dict | None] = field(init=False)  # the schema's compiled loader

    def __post_init__(self) -> None:
        object.__setattr__(self, "fast", compile_loader(self.schema))

    def load(self, obj: dict) -> dict:
        """The record, as ``schema.load`` gives it; ValidationError with its messages."""
        record = self.fast(obj)
        return self.schema.load(obj, unknown="exclude") if record is None else record


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
    known: Known = {}
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
            record = spec.load(obj)
        except ValidationError as exc:
            result.reject(number, _id_of(text), reason(exc.messages))
            continue
        except ValueError as exc:
            result.reject(number, None, f"not valid JSON: {exc}")
            continue
        batch.append((number, record))
        if len(batch) >= BATCH:
            apply_batch(company_id, spec, batch, result, known)
            result.mark_committed(number)
            batch = []
    if batch:
        apply_batch(company_id, spec, batch, result, known)
    result.mark_committed(number)
    return result


def _id_of(text: str):
    try:
        value = json.loads(text).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str | int) else None
