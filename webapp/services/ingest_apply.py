"""Applying one batch of validated ingestion records (docs/product.md §7): resolve the source
ids it refers to, then upsert by the record's own ``id`` within the company.

Records that may refer to each other within a batch (org units) or that meet portal users
(users) are applied row by row through the ORM; every other kind is applied set-based: the
new ids through the driver's bulk path (``executemany`` on SQLite, ``COPY`` on PostgreSQL)
and the known ones by one Core ``executemany`` UPDATE by primary key. When the database
refuses the set (a concurrent import created the same id, a number no column holds), the
batch goes row by row, which rejects the offending lines alone.

Also here: what an ingestion knows of a kind (Kind) and what it answers (IngestResult)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from marshmallow import Schema
from sqlalchemy.dialects.postgresql import ARRAY

from roles.viewer import sync_recipient_roles

from ..extensions import db
from ..models import User
from ..models.types import UTCDateTime
from ..models.users import email_key
from ..schemas.compiled import compile_loader
from .bulk import bulk_insert, db_time
from .errors import InputError
from .people import ingest_conflict, normalise_email

Batch = list[tuple[int, dict]]
Known = dict[type, dict[str, int]]  # model → source id → row id, kept across batches
MAX_KNOWN = 200_000  # resolved references kept between batches, at most
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



def reason(messages) -> str:
    """marshmallow's messages (or a service's field errors) as one line."""
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {reason(v)}" for k, v in messages.items())
    if isinstance(messages, list):
        return " ".join(str(m) for m in messages)
    return str(messages)


def resolve(company_id: int, model, external_ids: set[str]) -> dict[str, int]:
    """Row ids of the company's source ids, in one statement whatever their count: the ids
    as one array (PostgreSQL) or one JSON list (SQLite) parameter, not one parameter each."""
    if not external_ids:
        return {}
    ids = list(external_ids)
    query = sa.select(model.external_id, model.id).where(model.company_id == company_id)
    if db.session.get_bind().dialect.name == "postgresql":
        wanted = model.external_id == sa.any_(sa.bindparam("ids", ids, type_=ARRAY(sa.String)))
    else:
        listed = sa.func.json_each(json.dumps(ids)).table_valued("value")
        wanted = model.external_id.in_(sa.select(listed.c.value))
    return dict(db.session.execute(query.where(wanted)).all())


def apply_batch(company_id: int, spec: Kind, batch: Batch, result: IngestResult,
                known: Known) -> None:
    """Upsert one batch and commit it. ``known`` holds the references resolved by earlier
    batches of the same ingestion (rooms, accounts…), so each is looked up once."""
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    if postgresql:
        # The id look-ups below are the same statement batch after batch, so the driver
        # prepares them; a plan made while the table was small (a first import) would then
        # scan the whole table for every batch once it is large. Plan each with its values.
        db.session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
    if sum(len(ids) for ids in known.values()) > MAX_KNOWN:
        known.clear()
    existing = resolve(company_id, spec.model, {r["id"] for _, r in batch})
    for ref_field, (ref_model, _column) in spec.refs.items():
        cached = known.setdefault(ref_model, {})
        wanted = {r[ref_field] for _, r in batch if r.get(ref_field) is not None}
        cached.update(resolve(company_id, ref_model, wanted - cached.keys()))
    if postgresql:  # only for the look-ups: the foreign-key checks of the rows written
        # below are prepared once per session, and re-planning them for every row costs
        # more than the rows' own insert
        db.session.execute(sa.text("SET LOCAL plan_cache_mode = auto"))
    if spec.set_based and _apply_set(company_id, spec, batch, result, existing, known):
        return
    _apply_rows(company_id, spec, batch, result, existing, known)


def _apply_set(company_id: int, spec: Kind, batch: Batch, result: IngestResult,
               existing: dict[str, int], known: Known) -> bool:
    """One bulk insert of the new ids and one UPDATE of the known ones. False (nothing
    written, nothing counted) when the database refuses the set."""
    new: dict[str, dict] = {}
    changed: list[dict] = []
    created = updated = 0
    rejected: list[tuple[int, str, str]] = []
    for number, record in batch:
        try:
            values = _values(spec, record, known)
        except InputError as exc:
            rejected.append((number, record["id"], reason(exc.fields)))
            continue
        row_id = existing.get(record["id"])
        if row_id is not None:
            changed.append({"row_id": row_id, **values})
            updated += 1
        else:  # an id twice in one batch: the later line wins, as it would row by row
            updated += record["id"] in new
            created += record["id"] not in new
            new[record["id"]] = values
    table = spec.model.__table__
    refused = (sa.exc.IntegrityError, sa.exc.DataError,
               db.session.get_bind().dialect.dbapi.Error, OverflowError)
    try:  # the batch is the transaction's only write: refused, it is rolled back whole
        if new:
            names = tuple(next(iter(new.values())))
            times = [i for i, c in enumerate(names, 2) if isinstance(table.c[c].type,
                                                                        UTCDateTime)]
            bulk_insert(table.name, ("company_id", "external_id", *names),
                        _rows(company_id, new, names, times), grow_cache=False)
        if changed:
            db.session.execute(sa.update(table).where(table.c.id == sa.bindparam("row_id")),
                               changed)
    except refused:  # e.g. a concurrent import created the same id
        db.session.rollback()
        return False
    db.session.commit()
    for number, record_id, why in rejected:
        result.reject(number, record_id, why)
    result.created += created
    result.updated += updated
    return True


def _rows(company_id: int, new: dict[str, dict], names: tuple[str, ...], times: list[int]):
    """The new rows as the driver takes them: times as ``db_time`` strings."""
    for external_id, values in new.items():
        row = [company_id, external_id, *[values[k] for k in names]]
        for i in times:
            if row[i] is not None:
                row[i] = db_time(row[i])
        yield row


def _apply_rows(company_id: int, spec: Kind, batch: Batch, result: IngestResult,
                existing: dict[str, int], known: Known) -> None:
    model = spec.model
    for number, record in batch:
        try:
            values = _values(spec, record, known)
        except InputError as exc:
            result.reject(number, record["id"], reason(exc.fields))
            continue
        row_id = existing.get(record["id"])
        # a portal user is the same record (docs/product.md §7)
        if row_id is None and model is User:
            row_id = db.session.scalar(sa.select(User.id).where(
                User.company_id == company_id, User.email_key == values["email_key"],
                User.external_id.is_(None)))
        if row_id is None:
            row = model(company_id=company_id, external_id=record["id"])
        else:
            row = db.session.get(model, row_id)
            if model is User and (conflict := ingest_conflict(row, values)):
                result.reject(number, record["id"], conflict)
                continue
        try:  # changed within the savepoint, so that its rollback undoes them in the session
            with db.session.begin_nested():
                if row_id is None:
                    db.session.add(row)
                row.external_id = record["id"]
                for key, value in values.items():
                    setattr(row, key, value)
                db.session.flush()
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
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


def _values(spec: Kind, record: dict, known: Known) -> dict:
    """The record's columns in a fixed order (the schema's), references resolved."""
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
