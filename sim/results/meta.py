"""Result format v1: the attributes every result kind carries (docs/outputs.md, "Files").

* ``stamp(ds, api)``: ``format_version``, ``created`` (UTC), ``command`` (the command line
  of the CLI, or the API call such as ``"sim.run(...)"``), ``hedgesim_version``, and
  ``long_name`` / ``units`` on every coordinate. Every builder of a result calls it: runs
  (``build_dataset``), margin curves, stress tables, replays, backtests, distributed runs.
* ``command_line(text, overrides)``: the context in which ``stamp`` records a CLI command
  line (``sim.cli`` enters it around each subcommand) and its ``--set`` / ``--sweep``
  options (attrs ``overrides`` and ``sweep_overrides``: JSON lists of the options' values,
  e.g. ``["market.sigma=1.2"]``; absent when none was given). ``overrides_of(attrs)``
  reads them back.
* ``user_config(cfg)``: what the user wrote (after ``--set``/``--sweep``, with the path
  count and seed used), stored as the ``config_user`` attr: ``Config.from_user`` of it
  rebuilds the run's config, which ``sim.results.config_toml`` prints as TOML.
"""

from __future__ import annotations

import contextlib
import json
import os
from contextvars import ContextVar
from datetime import datetime, timezone
from importlib import metadata

import numpy as np
import xarray as xr

from sim.version import __version__

FORMAT_VERSION = 1  # the result format written by this hedgesim (docs/outputs.md)

_COMMAND: ContextVar[str | None] = ContextVar("hedgesim_command", default=None)
_OVERRIDES: ContextVar[dict | None] = ContextVar("hedgesim_overrides", default=None)
OVERRIDE_ATTRS = {"set": "overrides", "sweep": "sweep_overrides"}  # option -> attr (a JSON list)

# coordinate name: (units, long_name), for coordinates whose builder did not set them
COORDS = {
    "path": ("1", "path index (0 ... paths - 1; the same paths for the same config and seed)"),
    "sample": ("1", "stored sample path (its path index)"),
    "sample_time": ("days", "time of the stored sample point"),
    "portfolio": ("1", "portfolio: hedged (holdings and the short perpetual) or unhedged (holdings alone)"),
    "level": ("1", "confidence level of VaR / ES"),
    "quantile_level": ("1", "probability level of the quantile"),
    "time": ("days", "report time"),
    "scenario": ("1", "stress scenario (baseline first)"),
    "type": ("1", "type of the stress scenario"),
    "model": ("1", "price model"),
    "target": ("1", "target liquidation probability"),
    "n_paths": ("paths", "number of paths of the running estimate"),
}


def version() -> str:
    """hedgesim's version: the installed distribution's, else the source tree's."""
    try:
        return metadata.version("hedgesim")
    except metadata.PackageNotFoundError:  # running from a source tree
        return __version__


def utc_now() -> str:
    """The current UTC time as ISO 8601 to the second, e.g. ``2026-12-01T13:05:09Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@contextlib.contextmanager
def command_line(text: str, overrides: dict | None = None):
    """Within this block, ``stamp`` records ``text`` (a CLI command line) as ``command``
    and ``overrides`` (``{"set": [...], "sweep": [...]}``, the options' values) as the
    ``overrides`` / ``sweep_overrides`` attrs."""
    token = _COMMAND.set(text)
    token_o = _OVERRIDES.set(overrides)
    try:
        yield
    finally:
        _OVERRIDES.reset(token_o)
        _COMMAND.reset(token)


def overrides_of(attrs: dict) -> dict[str, list[str]]:
    """The ``--set`` / ``--sweep`` options stored in a result's ``attrs``: ``{"set": [...],
    "sweep": [...]}`` (empty lists when none was given or the attr is unreadable)."""
    out: dict[str, list[str]] = {}
    for option, attr in OVERRIDE_ATTRS.items():
        try:
            items = json.loads(attrs.get(attr) or "[]")
        except (TypeError, ValueError):
            items = []
        out[option] = [str(x) for x in items] if isinstance(items, list) else []
    return out


def current_command(api: str) -> str:
    """The command line of the CLI subcommand running now, else ``api``."""
    return _COMMAND.get() or api


def stamp(ds: xr.Dataset, api: str) -> xr.Dataset:
    """Add the format v1 attributes to ``ds`` (in place; returns it)."""
    ds.attrs.update({"format_version": FORMAT_VERSION, "created": utc_now(), "command": current_command(api),
                     "hedgesim_version": version()})
    for option, items in (_OVERRIDES.get() or {}).items():
        if items and option in OVERRIDE_ATTRS:
            ds.attrs[OVERRIDE_ATTRS[option]] = json.dumps([str(x) for x in items])
    describe_coords(ds)
    return ds


def describe_coords(ds: xr.Dataset) -> None:
    """``long_name`` and ``units`` on every coordinate that lacks them (dimensionless: "1";
    datetimes get no ``units``: their encoding writes CF units of its own)."""
    for name, coord in ds.coords.items():
        units, long_name = COORDS.get(name, ("1", str(name).replace("_", " ")))
        attrs = dict(coord.attrs)
        attrs.setdefault("long_name", long_name)
        if not np.issubdtype(coord.dtype, np.datetime64) and not np.issubdtype(coord.dtype, np.timedelta64):
            attrs.setdefault("units", units)
        ds.variables[name].attrs.update(attrs)


def user_config(cfg) -> dict:
    """What the user wrote for ``cfg`` (a ``sim.config.Config``): its tables and keys
    before presets and defaults, with the path count and seed used, ``[sweep]`` and
    ``[[stress]]``; replay files of stress scenarios and market.history as absolute paths (so the config
    runs from any folder)."""
    user = cfg.user_values()
    for n, st in enumerate(user.get("stress", []) if isinstance(user.get("stress"), list) else []):
        if isinstance(st, dict) and st.get("type") == "replay" and n < len(cfg.stress):
            st["file"] = os.path.abspath(cfg.stress[n]["file"])
    if isinstance(user.get("market"), dict) and user["market"].get("history"):
        user["market"]["history"] = os.path.abspath(cfg.market.history)
    return user
