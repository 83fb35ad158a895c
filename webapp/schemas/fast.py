"""A schema's dump, the same dictionary, with less of marshmallow's machinery per value: the
API's lists dump some 20 fields for each of 50 tasks, runs or events, and marshmallow's
``serialize`` → ``get_value`` → accessor → ``getattr`` chain cost as much as loading them.

``dumper(schema)`` writes out one Python function per schema (as schemas/compiled.py does for
loading): each plain attribute of a record is read once and converted inline as its field
does (integers, strings, nested schemas, lists of them) or by the field's own ``_serialize``;
a derived value (fields.derived) is asked of its function directly. Whatever it does not
know — a dotted attribute, a dump default, a record read by key that is not a dict, a schema
with dump hooks — goes through marshmallow as before. tests/webapp/test_fast_dump.py compares
the two.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Dump = Callable[[object], object]


def dumper(schema: Schema) -> Callable[[object], dict]:
    """``schema.dump`` of one record, faster; ``schema`` is used as it is (only, exclude)."""
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP] or schema.many or \
            type(schema).get_attribute is not Schema.get_attribute:
        return schema.dump
    names: dict[str, object] = {"MISSING": missing}
    by_attribute, by_key = ["def by_attribute(obj):", "    out = {}"], \
        ["def by_key(obj):", "    out = {}"]
    for n, (name, field) in enumerate(schema.dump_fields.items()):
        key = field.data_key if field.data_key is not None else name
        names[f"field{n}"] = field
        for lines, reading in ((by_attribute, _by_attribute), (by_key, _by_key)):
            read, convert = _lines(n, name, field, names, reading)
            lines += [f"    {line}" for line in read]
            lines += ["    if v is not MISSING:", *[f"        {line}" for line in convert],
                      f"        out[{key!r}] = v"]
    source = "\n".join([*by_attribute, "    return out", *by_key, "    return out", ""])
    exec(compile(source, f"<dump {type(schema).__name__}>", "exec"), names)  # noqa: S102
    by_attribute, by_key = names["by_attribute"], names["by_key"]
    slow = schema._serialize

    def dump(obj: object) -> dict:
        if type(obj) is dict:  # marshmallow reads a mapping by key, else by attribute
            return by_key(obj)
        if hasattr(obj, "__getitem__"):
            return slow(obj)
        return by_attribute(obj)

    return dump


def _lines(n: int, name: str, field: fields.Field, names: dict,
           reading: Callable[[str], list[str]]) -> tuple[list[str], list[str]]:
    """(lines that leave the field's value in ``v``, MISSING if the record has none; lines
    that convert it as the field's ``_serialize`` does). A field without a dump default
    whose value is missing is left out, as marshmallow leaves it."""
    attr = field.attribute if field.attribute is not None else name
    value = getattr(field, "derived_value", None)  # fields.derived: the record's value
    if field.dump_default is not missing or not field._CHECK_ATTRIBUTE or (
            value is None and ("get_value" in vars(field) or "." in attr)):
        return [_marshmallow(n, name)], []  # a default, another derivation, a path
    if value is not None:
        names[f"value{n}"] = value
    read = [f"v = value{n}(obj)"] if value is not None else reading(attr)
    return read, _converter(n, name, field, names)


def _marshmallow(n: int, name: str) -> str:
    """What marshmallow's own ``serialize`` makes of the field."""
    return f"v = field{n}.serialize({name!r}, obj, accessor=field{n}.parent.get_attribute)"


def _by_attribute(attr: str) -> list[str]:
    if attr.isidentifier() and not keyword.iskeyword(attr):
        return ["try:", f"    v = obj.{attr}", "except AttributeError:", "    v = MISSING"]
    return [f"v = getattr(obj, {attr!r}, MISSING)"]


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
