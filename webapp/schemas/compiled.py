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


def compile_loader(schema: Schema) -> Callable[[dict], dict | None]:
    """``load(record)`` → the loaded dict, or None when the schema must judge the record.
    The checks are written out as one Python function per schema (no loop over fields, no
    call per check), which is what makes it cheap."""
    if any(schema._hooks.values()) or schema.load_fields != schema.fields:
        raise TypeError(f"{type(schema).__name__}: hooks or load-only shapes are not compiled")
    names: dict[str, object] = {"MISSING": missing, "aware_datetime": _aware_datetime}
    lines = ["def load(record):", "    get = record.get"]
    for n, (name, field) in enumerate(schema.load_fields.items()):
        lines += [f"    v = get({name!r}, MISSING)", "    if v is MISSING:"]
        if field.required:
            lines.append("        return None")
        else:
            names[f"default{n}"] = field.load_default
            lines.append(f"        v = default{n}")
        lines.append("    elif v is None:")
        lines.append("        pass" if field.allow_none else "        return None")
        lines.append("    else:")
        lines += [f"        {line}" for line in _field_checks(name, field, n, names)]
        lines.append(f"    f{n} = v")
    fields_out = ", ".join(f"{name!r}: f{n}" for n, name in enumerate(schema.load_fields))
    lines.append(f"    return {{{fields_out}}}")
    exec("\n".join(lines), names)  # noqa: S102 - our own source, from the schema's fields
    return names["load"]  # type: ignore[return-value]


def _field_checks(name: str, field: fields.Field, n: int, names: dict) -> list[str]:
    """Statements that leave the loaded value in ``v`` or return None."""
    if field.data_key not in (None, name) or field.attribute not in (None, name):
        raise TypeError(f"{name}: data_key and attribute are not compiled")
    if callable(field.load_default):
        raise TypeError(f"{name}: a callable load_default is not compiled")
    kind = type(field)
    if kind is fields.String:
        checks = ["if type(v) is not str:", "    return None"]
    elif kind is fields.Integer:  # a JSON integer; floats and numeric strings: the schema
        checks = ["if type(v) is not int:", "    return None"]
    elif kind is fields.Boolean and field.truthy and field.falsy:
        checks = ["if v is not True and v is not False:", "    return None"]
    elif kind is fields.AwareDateTime and field.format in (None, "iso", "iso8601") \
            and field.default_timezone is None:
        checks = ["v = aware_datetime(v)", "if v is None:", "    return None"]
    else:
        raise TypeError(f"{name}: {kind.__name__} is not compiled")
    for m, validator in enumerate(field.validators):
        test = _validator_test(name, validator, f"choices{n}_{m}", names)
        checks += [f"if not ({test}):", "    return None"]
    return checks


def _aware_datetime(value):
    if type(value) is not str:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None and parsed.utcoffset() is not None else None


def _validator_test(name: str, validator, slot: str, names: dict) -> str:
    kind = type(validator)
    if kind is validate.Length and validator.equal is None:
        tests = [f"len(v) >= {validator.min!r}" if validator.min is not None else "",
                 f"len(v) <= {validator.max!r}" if validator.max is not None else ""]
    elif kind is validate.OneOf:
        names[slot] = frozenset(validator.choices)
        tests = [f"v in {slot}"]
    elif kind is validate.Range:
        low, high = validator.min, validator.max
        tests = ["" if low is None else f"v {'>=' if validator.min_inclusive else '>'} {low!r}",
                 "" if high is None else f"v {'<=' if validator.max_inclusive else '<'} {high!r}"]
    else:
        raise TypeError(f"{name}: validator {kind.__name__} is not compiled")
    return " and ".join(t for t in tests if t) or "True"
