"""Markdown tables of every config key, generated from ``sim.config.SCHEMA``.

    python -m sim.config_reference      # prints the tables pasted into README.md

The README's "Configuration reference" is this output, so the documented keys, defaults,
ranges and units are the ones the validator enforces.
"""

from __future__ import annotations

import json

from sim.config import SCHEMA, Field, format_duration

_TYPES = {
    "float": "number",
    "int": "integer",
    "bool": "bool",
    "str": "string",
    "time": "date or time",
    "duration": "duration",
    "delay": "duration (0 allowed)",
    "tiers": "array of tables",
    "durations": "array of durations",
    "tilt": '"off" / "auto" / number',
    "target_se": 'number or "N%"',
}

# defaults that are not a plain value: what the code does when the key is absent
_DERIVED_DEFAULTS = {
    ("position", "contract_size"): "1 (inverse) / 0.001 (linear)",
    ("exchange", "tiers"): "none (flat `maintenance_margin`)",
    ("simulation", "save_every"): "horizon / 240, in whole steps",
    ("policy", "top_up_to"): "2 x `top_up_trigger`",
    ("policy", "withdraw_to"): "`withdraw_above` / 2 (at least halfway from 1)",
}


def _default(section: str, key: str, field: Field) -> str:
    if (section, key) in _DERIVED_DEFAULTS:
        return _DERIVED_DEFAULTS[(section, key)]
    d = field.default
    if d is None:
        return "none"
    if isinstance(d, bool):
        return f"`{'true' if d else 'false'}`"
    if isinstance(d, str):
        return f"`{json.dumps(d)}`"
    if isinstance(d, float):
        return f"`{d:g}`"
    return f"`{d}`"


def _range(field: Field) -> str:
    if field.kind in ("duration", "delay") and field.lo is not None and field.hi is not None:
        return f"[{format_duration(field.lo)}, {format_duration(field.hi)}]"
    if field.kind == "bool":
        return "`true`, `false`"
    if field.kind == "tiers":
        return ("limits increasing, rates in [0, 0.5) and non-decreasing, deductions ≥ 0 and not making "
                "the margin negative at a tier's lower edge")
    if field.choices:
        return field.range_text()
    if field.lo is None and field.hi is None:
        return "any"
    lo = "(" if field.lo_open else "["
    hi = ")" if field.hi_open else "]"
    return f"{lo}{_bound(field.lo, field.kind)}, {_bound(field.hi, field.kind)}{hi}"


def _bound(x: float | None, kind: str) -> str:
    if x is None:
        return "∞"
    if kind == "int" and x == 2**63 - 1:
        return "2^63 − 1"
    if x == int(x) and abs(x) >= 1e5:
        exp = len(str(int(abs(x)))) - 1
        if abs(x) == 10**exp:
            return f"{'-' if x < 0 else ''}1e{exp}"
    return f"{x:g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """One markdown table per config section: key, type, default, range, unit, meaning."""
    out: list[str] = []
    for section, fields in SCHEMA.items():
        out.append(f"#### `[{section}]`")
        out.append("")
        out.append("| key | type | default | allowed | unit | meaning |")
        out.append("|---|---|---|---|---|---|")
        for key, field in fields.items():
            unit = "" if field.kind == "duration" else field.unit
            out.append("| " + " | ".join(_cell(c) for c in (
                f"`{key}`", _TYPES[field.kind], _default(section, key, field), _range(field), unit, field.doc,
            )) + " |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    print(markdown(), end="")


if __name__ == "__main__":
    main()
