"""A schema's dump, the same dictionary, with less of marshmallow's machinery per value: the
API's lists dump some 20 fields for each of 50 tasks, runs or events, and marshmallow's
``serialize`` → ``get_value`` → accessor → ``getattr`` chain cost as much as loading them.

``dumper(schema)`` reads each plain attribute of a record with ``getattr`` and hands it to
the field's own ``_serialize`` (strings and integers converted as marshmallow does), and
nested schemas the same way; whatever it does not know — a derived value, a dotted
attribute, a dump default, a record read by key (a dict), a schema with dump hooks — goes
through marshmallow as before. tests/webapp/test_fast_dump.py compares the two.
"""

from __future__ import annotations

from collections.abc import Callable

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Dump = Callable[[object], object]


def dumper(schema: Schema) -> Callable[[object], dict]:
    """``schema.dump`` of one record, faster; ``schema`` is used as it is (only, exclude)."""
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP] or schema.many:
        return schema.dump
    steps = [(field.data_key if field.data_key is not None else name, *_step(name, field))
             for name, field in schema.dump_fields.items()]
    slow = schema._serialize

    def dump(obj: object) -> dict:
        if type(obj) is dict:  # marshmallow reads a mapping by key, else by attribute
            def get(attr: str, obj=obj) -> object:
                return obj[attr] if attr in obj else getattr(obj, attr, missing)
        elif hasattr(obj, "__getitem__"):
            return slow(obj)
        else:
            def get(attr: str, obj=obj) -> object:
                return getattr(obj, attr, missing)
        out = {}
        for key, attr, step in steps:
            value = step(obj, missing if attr is None else get(attr))
            if value is not missing:
                out[key] = value
        return out

    return dump


def _step(name: str, field: fields.Field) -> tuple[str | None, Callable[[object, object], object]]:
    """(the attribute read, None if marshmallow reads it; what makes the value dumped)."""

    def marshmallow(obj: object, value: object = missing) -> object:
        return field.serialize(name, obj, accessor=field.parent.get_attribute)

    attr = field.attribute if field.attribute is not None else name
    if field.dump_default is not missing or not field._CHECK_ATTRIBUTE:
        return None, marshmallow
    convert = _converter(name, field)
    if "get_value" in vars(field) or "." in attr:  # derived (fields.derived), or a path
        def derived(obj: object, value: object) -> object:
            value = field.get_value(obj, name, accessor=field.parent.get_attribute)
            return marshmallow(obj) if value is missing else convert(value, obj)

        return None, derived

    def step(obj: object, value: object) -> object:
        return marshmallow(obj) if value is missing else convert(value, obj)

    return attr, step


def _converter(name: str, field: fields.Field) -> Callable[[object, object], object]:
    kind = type(field)
    if kind is fields.Integer and not field.as_string:
        return lambda value, obj: None if value is None else int(value)
    if kind is fields.String:
        return lambda value, obj: value if type(value) is str else field._serialize(
            value, name, obj)
    if kind is fields.Nested:
        nested = _nested(field.schema, field.many)
        return lambda value, obj: None if value is None else nested(value)
    if kind is fields.List and type(field.inner) is fields.Nested:
        each = _nested(field.inner.schema, field.inner.many)
        return lambda value, obj: None if value is None else [each(v) for v in value]
    return lambda value, obj: field._serialize(value, name, obj)


def _nested(schema: Schema, many: bool) -> Callable[[object], object]:
    """What ``Nested._serialize`` makes of a value that is not None."""
    if schema.many:
        return schema.dump
    one = dumper(schema)
    return (lambda value: [one(v) for v in value]) if many else one
