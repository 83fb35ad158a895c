"""Compressed reports: a task's option "gzip" stores (and so downloads and uploads) the CSV
as ``.csv.gz``."""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

SUFFIX = ".gz"


@contextmanager
def gzipped(path: str, enabled: bool) -> Iterator[str]:
    """A path to write the plain CSV to. With ``enabled`` it is compressed into ``path`` when
    the block ends (a temporary name, then a rename; the same bytes for the same CSV: no
    time in the header); without, it is ``path`` itself."""
    if not enabled:
        yield path
        return
    plain, part = f"{path}.plain", f"{path}.part"
    try:
        yield plain
        with open(plain, "rb") as src, open(part, "wb") as raw, gzip.GzipFile(
                filename=os.path.basename(path).removesuffix(SUFFIX), mode="wb", fileobj=raw,
                mtime=0) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(part, path)
    finally:
        for leftover in (plain, part):
            if os.path.exists(leftover):
                os.unlink(leftover)
