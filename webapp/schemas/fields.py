"""The fields our shapes are made of, with the messages people read, and the error flattening
that turns marshmallow's nested messages into the API's ``{"dotted.field": "message"}``."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from marshmallow import fields
from marshmallow.validate import OneOf, Regexp


def says(message: str) -> dict[str, str]:
    """One message for every way a value can be wrong (missing, null, of the wrong type)."""
    return {"required": message, "null": message, "invalid": message}


def flatten(messages, prefix: str = "") -> dict[str, str]:
    """marshmallow's ``{"a": {"b": ["msg"]}, "c": {0: ["msg"]}}`` → ``{"a.b": "msg",
    "c.0": "msg"}``; a schema-wide message (``_schema``) belongs to the field that holds it."""
    out: dict[str, str] = {}
    for key, value in (messages.items() if isinstance(messages, dict) else [("_schema",
                                                                              messages)]):
        name = (prefix.rstrip(".") or "body") if key == "_schema" else f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                out.update(flatten(item, prefix))
        else:
            out.setdefault(name, value[0] if isinstance(value, list) else str(value))
    return out


# The document's words for "not blank" and "one line, not blank" (``one_line`` below).
NOT_BLANK = r"\S"
ONE_LINE = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
ONE_LINE_NOT_BLANK = (r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f]"
                      r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$")


class Text(fields.String):
    """A string with the spaces around it removed; blank counts as missing when required
    (and documented so)."""

    doc_pattern = NOT_BLANK

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.required:  # a Regexp validator's pattern, if any, says more
            self.metadata = {"minLength": 1, **({} if any(isinstance(v, Regexp) for v in (
                self.validators)) else {"pattern": self.doc_pattern}), **self.metadata}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text and self.required:
            raise self.make_error("required")
        return text


def one_line(text: str) -> bool:
    """No line break, NUL or other control or separator character (it would break an email
    header, a CSV row or a log line)."""
    return not any(unicodedata.category(c) in ("Cc", "Zl", "Zp", "Cs") for c in text)


class Name(Text):
    """A name people read on one line (a task's, a company's, a token's)."""

    doc_pattern = ONE_LINE_NOT_BLANK

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not one_line(text):
            raise self.make_error("one_line")
        return text

    default_error_messages = {"one_line": "Must be one line of text: no line breaks or "
                                          "control characters."}


class StrictBoolean(fields.Boolean):
    """true or false, nothing that merely looks like one ("yes", 1)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictInteger(fields.Integer):
    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)


class Strings(fields.List):
    """A list of strings judged as a whole: one message for the field, not one per item.
    ``choices`` only documents the items; a validator or the service judges them."""

    def __init__(self, *, unique: bool = False, allow_empty: bool = True,
                 choices: tuple[str, ...] | None = None, **kwargs):
        item = fields.String(validate=OneOf(choices)) if choices else fields.String()
        if not allow_empty:  # documented as the rule it is
            kwargs["metadata"] = {"minItems": 1, **kwargs.get("metadata", {})}
        super().__init__(item, **kwargs)
        self.unique, self.allow_empty = unique, allow_empty

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (
                not value and not self.allow_empty):
            raise self.make_error("invalid")
        return list(dict.fromkeys(value)) if self.unique else list(value)


def email_address(value: str) -> str:
    """An address's normal form (syntax only, no DNS lookup); special-use domains are accepted
    on purpose, since internal distribution lists often live on them. ValueError if invalid
    (if empty: that it is required, not that “” lacks an @-sign)."""
    if not (value or "").strip():
        raise ValueError("An email address is required.")
    try:
        return validate_email(value or "", check_deliverability=False,
                              test_environment=True).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"“{value}” is not a valid email address: {exc}") from None


class EmailAddress(fields.String):
    def __init__(self, **kwargs):
        super().__init__(**{**kwargs, "metadata": {"format": "email",
                                                   **kwargs.get("metadata", {})}})

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return email_address(value if isinstance(value, str) else "")
        except ValueError as exc:
            raise self.make_error("invalid_email", reason=str(exc)) from None

    default_error_messages = {"invalid_email": "{reason}"}


class LocalDateTime(fields.DateTime):
    """An instant shown in a time zone taken from the object dumped (a task's, usually)."""

    def __init__(self, zone: Callable[[object], str], **kwargs):
        super().__init__(**kwargs)
        self.zone = zone

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(ZoneInfo(self.zone(obj))).isoformat()


def derived(field: fields.Field, value: Callable[[object], object]) -> fields.Field:
    """``field``, documented as it is, whose dumped value is ``value(obj)`` (a value the
    record does not hold as an attribute: a task's schedule, a role's holder count)."""
    field.get_value = lambda obj, attr, accessor=None, default=None: value(obj)
    field.derived_value = value  # what schemas/fast.py asks directly
    return field
