"""Numbers in printed tables: the same figure is written the same way in every table."""

from __future__ import annotations

import math


def fmt_number(x: float, digits: int = 2) -> str:
    """Thousands separators and ``digits`` decimals; "n/a" for None or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.{digits}f}"


def fmt_fixed(x: float, spec: str) -> str:
    """``format(x, spec)``; "n/a" for None or NaN (an undefined figure, e.g. an SE from
    one path, or a liquidation price where none is possible)."""
    if x is None or math.isnan(x):
        return "n/a"
    return format(x, spec)


def fmt_probability(x: float) -> str:
    """Probabilities: percent with enough digits to show small values."""
    if math.isnan(x):
        return "n/a"
    if x == 0:
        return "0 %"
    if x < 1e-3:
        return f"{100 * x:.4f} %"
    return f"{100 * x:.2f} %"


def fmt_percent(x: float) -> str:
    """Percent to three significant digits (targets and grid probabilities of a margin curve)."""
    if math.isnan(x):
        return "n/a"
    return f"{100 * x:.3g} %"
