"""Sizes as people write them on a command line: ``4GiB``, ``700MB``, ``1g``."""

from __future__ import annotations

import re

from hangard.errors import InputError

__all__ = ["parse_size"]

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1 << 20,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1 << 30,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1 << 40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
#: A part smaller than this holds little more than headers.
MIN_PART = 1 << 16


def parse_size(text: str, *, what: str = "--part-size") -> int:
    """Bytes in ``text``: a number with an optional unit (``KiB``/``MiB``/
    ``GiB``/``TiB`` binary, ``KB``/``MB``/``GB``/``TB`` decimal), case-insensitive."""
    found = _SIZE.fullmatch(text)
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS:
        raise InputError(
            f"{what} {text!r}: expected a size such as 4GiB, 700MB or 1048576",
        )
    size = int(float(found.group(1)) * _UNITS[unit])
    if size < MIN_PART:
        raise InputError(f"{what} {text!r}: must be at least {MIN_PART} bytes (64KiB)")
    return size
