"""JSON as Herald reads it from clients: what Python's parser accepts but no database column
can hold, or the parser cannot finish, is invalid JSON like any syntax error (a ValueError),
so every caller answers it as bad input rather than failing later:

- nesting deeper than the parser's recursion (``[[[[…`` a hundred thousand deep);
- strings holding a lone UTF-16 surrogate (``"\\ud800"``: no UTF-8 encoding exists) or NUL
  (``"\\u0000"``: PostgreSQL text refuses it).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask.json.provider import DefaultJSONProvider

# Only an escape can put a surrogate or NUL into a string parsed from UTF-8 text.
_SUSPECT = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")


def loads(text: str | bytes) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if _SUSPECT.search(text):
        _check_strings(value)
    return value


def _check_strings(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise ValueError("a string holds a NUL character (\\u0000)")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a string holds a lone UTF-16 surrogate") from None


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading request bodies with :func:`loads`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
