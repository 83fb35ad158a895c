"""A schema's dump, the same dictionary, with less of marshmallow's machinery per value: the
API's lists dump some 20 fields for each of 50 tasks, runs or events, and marshmallow's
``serialize`` → ``get_value`` → accessor → ``getattr`` chain cost as much as loading them.

``dumper(schema)`` writes out one Python function per schema (as schemas/compiled.py does for
loading): each plain attribute of a record is read once (a loaded column straight from the
record's ``__dict__``, past SQLAlchemy's descriptor, when the class lets that be the same) and
converted inline as its field does (integers, strings, nested schemas, lists of them) or by
the field's own ``_serialize``; a derived value (fields.derived) is asked of its function
directly. Whatever it does not
know — a dotted attribute, a dump default, a record read by key that is not a dict, a schema
with dump hooks — goes through marshmallow as before. tests/webapp/test_fast_dump.py compares
the two.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from sqlalchemy.orm.attributes import QueryableAttribute

Dump = Callable[[object], object]


def dumper(schema: Schema) -> Callable[[object], dict]:
    """``schema.dump`` of one record, faster; ``schema`` is used as it is (only, exclude)."""
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP] or schema.many or \
            type(schema).get_attribute is not Schema.get_attribute:
        return schema.dump
    names: dict[str, object] = {"MISSING": missing}
    ways = {"by_attribute": _by_attribute, "by_state": _by_state, "by_key": _by_key}
    lines = {way: [f"def {way}(obj):", "    out = {}"] for way in ways}
    lines["by_state"].append("    state = obj.__dict__")
    plain: list[str] = []  # the attributes read as they are (not derived, not by marshmallow)
    for n, (name, field) in enumerate(schema.dump_fields.items()):
        key = field.data_key if field.data_key is not None else name
        names[f"field{n}"] = field
        for way, reading in ways.items():
            read, convert, attr = _lines(n, name, field, names, reading)
            lines[way] += [f"    {line}" for line in read]
            lines[way] += ["    if v is not MISSING:", *[f"        {line}" for line in convert],
                           f"        out[{key!r}] = v"]
        plain += [attr] if attr else []
    source = "\n".join(line for way in ways for line in [*lines[way], "    return out", ""])
    exec(compile(source, f"<dump {type(schema).__name__}>", "exec"), names)  # noqa: S102
    by_key, slow = names["by_key"], schema._serialize
    chosen: dict[type, Callable[[object], dict]] = {}

    def choose(kind: type) -> Callable[[object], dict]:
        if hasattr(kind, "__getitem__"):  # marshmallow reads it by key
            return slow
        return names["by_state" if _by_state_is_safe(kind, plain) else "by_attribute"]

    def dump(obj: object) -> dict:
        kind = type(obj)
        if kind is dict:  # marshmallow reads a mapping by key, else by attribute
            return by_key(obj)
        way = chosen.get(kind)
        if way is None:
            way = chosen[kind] = choose(kind)
        return way(obj)

    return dump


def _by_state_is_safe(kind: type, attrs: list[str]) -> bool:
    """Whether an instance's ``__dict__`` holds what reading each attribute gives, when it
    holds the name: no property or other data descriptor of the class comes first, except
    SQLAlchemy's mapped attributes, which answer from that ``__dict__`` when loaded."""
    if not getattr(kind, "__dictoffset__", 0) or kind.__getattribute__ is not \
            object.__getattribute__:
        return False
    for attr in attrs:
        found = inspect.getattr_static(kind, attr, None)
        if found is not None and not isinstance(found, QueryableAttribute) and (
                hasattr(type(found), "__set__") or hasattr(type(found), "__delete__")):
            return False
    return True


def _lines(n: int, name: str, field: fields.Field, names: dict, reading: Callable[[str], list[str]]
           ) -> tuple[list[str], list[str], str | None]:
    """(lines that leave the field's value in ``v``, MISSING if the record has none; lines
    that convert it as the field's ``_serialize`` does; the attribute read as it is, if one
    is). A field without a dump default whose value is missing is left out, as marshmallow
    leaves it."""
    attr = field.attribute if field.attribute is not None else name
    value = getattr(field, "derived_value", None)  # fields.derived: the record's value
    if field.dump_default is not missing or not field._CHECK_ATTRIBUTE or (
            value is None and ("get_value" in vars(field) or "." in attr)):
        return [_marshmallow(n, name)], [], None  # a default, another derivation, a path
    convert = _converter(n, name, field, names)
    if value is not None:
        names[f"value{n}"] = value
        return [f"v = value{n}(obj)"], convert, None
    return reading(attr), convert, attr


def _marshmallow(n: int, name: str) -> str:
    """What marshmallow's own ``serialize`` makes of the field."""
    return f"v = field{n}.serialize({name!r}, obj, accessor=field{n}.parent.get_attribute)"


def _by_attribute(attr: str) -> list[str]:
    if attr.isidentifier() and not keyword.iskeyword(attr):
        return ["try:", f"    v = obj.{attr}", "except AttributeError:", "    v = MISSING"]
    return [f"v = getattr(obj, {attr!r}, MISSING)"]


def _by_state(attr: str) -> list[str]:
    """Read from the instance's ``__dict__`` (a loaded column of a record, without SQLAlchemy's
    descriptor), else as an attribute."""
    return [f"v = state.get({attr!r}, MISSING)", "if v is MISSING:",
            f"    v = getattr(obj, {attr!r}, MISSING)"]


def _by_key(attr: str) -> list[str]:
    return [f"v = obj[{attr!r}] if {attr!r} in obj else getattr(obj, {attr!r}, MISSING)"]


def _converter(n: int, name: str, field: fields.Field, names: dict) -> list[str]:
    """Lines turning ``v`` (not missing) into what the field's ``_serialize`` returns (a
    subclass that dumps as its base does is its base here: ScheduleField, Name…)."""
    dumps = type(field)._serialize
    if isinstance(field, fields.Integer) and dumps is fields.Number._serialize and \
            type(field)._format_num is fields.Number._format_num and \
            field.num_type is int and not field.as_string:
        return ["if v is not None:", "    v = int(v)"]
    if isinstance(field, fields.String) and dumps is fields.String._serialize:
        return ["if type(v) is not str:", f"    v = field{n}._serialize(v, {name!r}, obj)"]
    if isinstance(field, fields.Nested) and dumps is fields.Nested._serialize:
        names[f"nested{n}"] = _nested(field.schema, field.many)
        return ["if v is not None:", f"    v = nested{n}(v)"]
    if isinstance(field, fields.List) and dumps is fields.List._serialize and \
            type(field.inner) is fields.Nested:
        names[f"each{n}"] = _nested(field.inner.schema, field.inner.many)
        return ["if v is not None:", f"    v = [each{n}(x) for x in v]"]
    return [f"v = field{n}._serialize(v, {name!r}, obj)"]


def _nested(schema: Schema, many: bool) -> Callable[[object], object]:
    """What ``Nested._serialize`` makes of a value that is not None."""
    if schema.many:
        return schema.dump
    one = dumper(schema)
    return (lambda value: [one(v) for v in value]) if many else one
