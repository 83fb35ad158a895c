"""A fast loader compiled from a flat marshmallow schema, for the records of an ingestion
(docs/product.md §7), where a schema's ``load`` costs more than the rest of the work.

The schema stays the one authority: it documents the API and writes every error message.
The compiled loader only answers the easy case: a record it accepts is exactly what
``schema.load(record, unknown="exclude")`` returns, and for anything else it returns None,
so the caller asks the schema, which accepts it (a ``"true"`` that marshmallow reads as a
boolean) or says what is wrong. Compiling refuses a schema it cannot mirror (hooks,
``data_key``, a field type or validator not handled here), so a new field of another kind
fails at import rather than being checked loosely.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from marshmallow import Schema, fields, validate
from marshmallow.utils import missing

_NO = object()  # a value the fast path does not decide: the schema does
Check = Callable[[object], object]


def compile_loader(schema: Schema) -> Callable[[dict], dict | None]:
    """``load(record)`` → the loaded dict, or None when the schema must judge the record."""
    if any(schema._hooks.values()) or schema.load_fields != schema.fields:
        raise TypeError(f"{type(schema).__name__}: hooks or load-only shapes are not compiled")
    plan = [(name, _field_check(name, field), field.required,
             field.load_default, field.allow_none)
            for name, field in schema.load_fields.items()]

    def load(record: dict) -> dict | None:
        out = {}
        for name, check, required, default, allow_none in plan:
            value = record.get(name, missing)
            if value is missing:
                if required:
                    return None
                out[name] = default
            elif value is None:
                if not allow_none:
                    return None
                out[name] = None
            else:
                value = check(value)
                if value is _NO:
                    return None
                out[name] = value
        return out

    return load


def _field_check(name: str, field: fields.Field) -> Check:
    if field.data_key not in (None, name) or field.attribute not in (None, name):
        raise TypeError(f"{name}: data_key and attribute are not compiled")
    if callable(field.load_default):
        raise TypeError(f"{name}: a callable load_default is not compiled")
    kind = type(field)
    if kind is fields.String:
        base: Check = _string
    elif kind is fields.Integer:
        base = _integer
    elif kind is fields.Boolean and field.truthy and field.falsy:
        base = _boolean
    elif kind is fields.AwareDateTime and field.format in (None, "iso", "iso8601") \
            and field.default_timezone is None:
        base = _aware_datetime
    else:
        raise TypeError(f"{name}: {kind.__name__} is not compiled")
    tests = [_validator_test(name, v) for v in field.validators]
    if not tests:
        return base

    def check(value):
        value = base(value)
        if value is _NO:
            return _NO
        for test in tests:
            if not test(value):
                return _NO
        return value

    return check


def _string(value):
    return value if type(value) is str else _NO


def _integer(value):  # a JSON integer; floats and numeric strings go to the schema
    return value if type(value) is int else _NO


def _boolean(value):
    return value if value is True or value is False else _NO


def _aware_datetime(value):
    if type(value) is not str:
        return _NO
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return _NO
    return parsed if parsed.tzinfo is not None and parsed.utcoffset() is not None else _NO


def _validator_test(name: str, validator) -> Callable[[object], bool]:
    kind = type(validator)
    if kind is validate.Length and validator.equal is None:
        low = validator.min if validator.min is not None else 0
        high = validator.max if validator.max is not None else float("inf")
        return lambda value: low <= len(value) <= high
    if kind is validate.OneOf:
        choices = frozenset(validator.choices)
        return lambda value: value in choices
    if kind is validate.Range:
        low, high = validator.min, validator.max
        low_ok = (lambda v: True) if low is None else (
            (lambda v: v >= low) if validator.min_inclusive else (lambda v: v > low))
        high_ok = (lambda v: True) if high is None else (
            (lambda v: v <= high) if validator.max_inclusive else (lambda v: v < high))
        return lambda value: low_ok(value) and high_ok(value)
    raise TypeError(f"{name}: validator {kind.__name__} is not compiled")
