"""Reading an NDJSON body line by line, in chunks, within a size limit."""

from __future__ import annotations

from collections.abc import Callable, Iterator

MAX_LINE_BYTES = 1 << 20  # a longer line is rejected unread, so memory stays bounded
READ_SIZE = 1 << 16


class BodyTooLarge(Exception):
    """The body went over its limit; the batches committed before are counted."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class LineTooLong:
    """Stands for a line over MAX_LINE_BYTES, which is skipped rather than held in memory."""


def ndjson_lines(read: Callable[[int], bytes], max_bytes: int | None = None
                 ) -> Iterator[bytes | LineTooLong]:
    """The lines of a byte stream read with ``read(size)`` (a WSGI server's input, a file),
    in chunks: neither the body nor an overlong line is ever held whole. Raises BodyTooLarge
    once more than ``max_bytes`` have arrived."""
    total = 0
    pending = b""
    skipping = False  # inside a line over MAX_LINE_BYTES, until its newline
    while chunk := read(READ_SIZE):
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise BodyTooLarge(max_bytes)
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if skipping:
                skipping = False
            else:
                line = pending + chunk[start:end] if pending else chunk[start:end]
                yield LineTooLong() if len(line) > MAX_LINE_BYTES else line
            pending = b""
            start = end + 1
        if not skipping:
            pending += chunk[start:]
            if len(pending) > MAX_LINE_BYTES:
                pending, skipping = b"", True
                yield LineTooLong()
    if pending and not skipping:
        yield pending
