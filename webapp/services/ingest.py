"""NDJSON ingestion of communications data (docs/product.md §7): validate each line, resolve the
source ids it refers to, upsert by the record's own ``id``. A bad line is rejected alone,
with its line number and reason; the good ones are kept. Input is read line by line in
batches, so a large body is never held in memory.

Each line is checked by a loader compiled from its kind's schema (schemas/compiled.py); a
line that loader does not accept is judged by the schema itself, which writes the reason.
Applying a batch is ingest_apply.py's."""

from __future__ import annotations

import json
from collections.abc import Iterable

from marshmallow import ValidationError

from .. import strict_json
from ..models import Account, ExportEmail, Irregularity, Message, OrgUnit, Room, User, Violation
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
from .ingest_apply import IngestResult, Kind, Known, apply_batch, reason
from .ndjson import MAX_LINE_BYTES, LineTooLong

BATCH = 5000  # lines a commit: fewer commits (and id look-ups) per row, memory still small


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
