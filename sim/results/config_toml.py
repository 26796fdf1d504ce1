"""The TOML that reproduces a result: ``hedgesim config RESULT``.

``result_config(ds)`` is the config a result stores as a nested dict: the ``config_user``
attr (format v1: what the user wrote, with ``--set``/``--sweep``, the path count and seed
used), else, for results written before format v1, the resolved ``config`` attr without
the keys that equal their defaults. ``result_toml(ds)`` prints it as TOML (keys whose
value is None are left out: TOML has no null; ``[sweep]`` as a table of quoted
"section.key" names; ``[[stress]]`` as an array of tables; no ``[output]``: the path a
result was written to is not part of it). ``hedgesim run`` of that TOML reproduces the
result's per-path arrays bit for bit (tests/results/test_config_cmd.py).
"""

from __future__ import annotations

import json
import math
import re

import xarray as xr

from sim.config import SCHEMA, Config, ConfigError
from sim.errors import ResultFileError

_BARE = re.compile(r"[A-Za-z0-9_-]+")
LEFT_OUT = ("output",)  # tables that do not change a result


def result_config(ds: xr.Dataset) -> dict:
    """The nested config that reproduces ``ds`` (see the module docstring);
    ``ResultFileError`` if the result stores none, or one that does not validate today."""
    if "config_user" in ds.attrs:
        user = json.loads(ds.attrs["config_user"])
    elif "config" in ds.attrs:
        user = _without_defaults(json.loads(ds.attrs["config"]))
    else:
        raise ResultFileError("this result stores no config (it was not written by a simulating hedgesim command)")
    user = {k: v for k, v in _drop_none(user).items() if k not in LEFT_OUT}
    try:
        Config.from_user(user)
    except ConfigError as exc:
        raise ResultFileError(f"the config stored in this result does not validate with this hedgesim ({exc})") from None
    return user


def config_differences(ds: xr.Dataset, user: dict) -> list[str]:
    """Keys whose resolved value today differs from the resolved config the result stores
    (e.g. an exchange preset or a default changed since): "section.key" names."""
    if "config" not in ds.attrs:
        return []
    stored = json.loads(ds.attrs["config"])
    now = json.loads(Config.from_user(user).to_json())
    out = []
    for section, body in now.items():
        if section in LEFT_OUT or section == "stress" or not isinstance(body, dict):
            continue
        old = stored.get(section, {})
        out += [f"{section}.{k}" for k, v in body.items() if isinstance(old, dict) and old.get(k, v) != v]
    return out


def result_toml(ds: xr.Dataset, source: str = "") -> str:
    """TOML text of ``result_config(ds)``, with a header naming the result and the command
    that wrote it."""
    user = result_config(ds)
    head = [f"# the config of the hedgesim result {source}".rstrip()]
    for key, label in (("command", "written by"), ("created", "at"), ("hedgesim_version", "hedgesim")):
        if ds.attrs.get(key):
            head.append(f"# {label}: {ds.attrs[key]}")
    return "\n".join(head) + "\n\n" + toml_text(user)


def toml_text(doc: dict) -> str:
    """A nested dict of tables (and ``stress``: a list of tables) as TOML."""
    lines: list[str] = []
    order = [s for s in SCHEMA if s in doc] + sorted(k for k in doc if k not in SCHEMA)
    for section in order:
        body = doc[section]
        if isinstance(body, dict):
            lines.append(f"[{_key(section)}]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in body.items()]
            lines.append("")
        elif isinstance(body, list) and all(isinstance(x, dict) for x in body):
            for item in body:
                lines.append(f"[[{_key(section)}]]")
                lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]
                lines.append("")
        else:
            raise ValueError(f"{section}: a top-level key of a config is a table")
    return "\n".join(lines)


def _key(k: str) -> str:
    return k if _BARE.fullmatch(k) else json.dumps(k)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise ValueError(f"{v!r}: no TOML form")


def _drop_none(x):
    if isinstance(x, dict):
        return {k: _drop_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_drop_none(v) for v in x if v is not None]
    return x


def _without_defaults(resolved: dict) -> dict:
    """A resolved config (results before format v1) without the keys that equal their
    default, so that keys derived from one another (collateral / collateral_usd, an
    exchange preset's values) are not given twice."""
    out = {}
    for section, body in resolved.items():
        fields = SCHEMA.get(section)
        if fields is None or not isinstance(body, dict):
            out[section] = body
            continue
        kept = {k: v for k, v in body.items() if k not in fields or fields[k].default != v}
        if kept:
            out[section] = kept
    return out
