"""Durations ("15min", "8h", "30d") and the year: the units of every time in a config."""

from __future__ import annotations

import json
import re
from typing import Any

from sim.errors import ConfigError

YEAR_SECONDS = 365.0 * 86400.0  # a year is 365 days (docs/model.md, Units)

_DURATION_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|sec|min|h|d|w)\s*$")
_DURATION_UNIT = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_duration(text: Any, field: str = "duration") -> float:
    """Parse ``"15min"``, ``"1h"``, ``"8h"``, ``"3d"``, ``"2w"`` or ``"30s"`` into seconds."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise ConfigError(
            f'{field} = {show_value(text)}: expected a duration string such as "15min", "1h", "8h" or "30d"'
        )
    m = _DURATION_RE.match(text)
    if not m:
        hint = ' (use "min" for minutes; months are ambiguous, use days)' if re.search(r"\dm(o|onth)?s?\s*$", text) else ""
        raise ConfigError(
            f'{field} = {show_value(text)}: not a duration; use a number and one of s, min, h, d, w, '
            f'e.g. "15min", "8h", "30d"{hint}'
        )
    seconds = float(m.group(1)) * _DURATION_UNIT[m.group(2)]
    if seconds <= 0:
        raise ConfigError(f"{field} = {show_value(text)}: must be longer than zero")
    return seconds


def parse_delay(text: Any, field: str = "delay") -> float:
    """A duration that may be zero: 0, "0" or "0s"/"0h"/..., else as ``parse_duration``."""
    if not isinstance(text, bool) and isinstance(text, (int, float)) and text == 0:
        return 0.0
    if isinstance(text, str) and re.fullmatch(r"\s*0+(?:\.0*)?\s*(s|sec|min|h|d|w)?\s*", text):
        return 0.0
    return parse_duration(text, field)


def format_duration(seconds: float) -> str:
    """Shortest exact human form of a duration in seconds (inverse of parse_duration)."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and abs(seconds / size - round(seconds / size)) < 1e-9:
            return f"{int(round(seconds / size))}{unit}"
    return f"{seconds:g}s"


SHOW_MAX = 80  # characters of a value quoted in an error message (a 1 MB string stays one short line)


def show_value(value: Any) -> str:
    """A config value as TOML would write it (for error messages), cut to ``SHOW_MAX``
    characters."""
    if isinstance(value, str):
        text = json.dumps(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        try:
            text = repr(value)
        except (RecursionError, ValueError):  # e.g. a deeply nested list; an int too long for str()
            text = f"<{type(value).__name__}>"
    return text if len(text) <= SHOW_MAX else text[:SHOW_MAX - 5] + " ..." + text[-1]
