"""The error every service raises for bad input, shown field by field by portal and API."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input; ``fields`` maps each field to its message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields
