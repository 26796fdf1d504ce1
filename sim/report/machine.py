"""The summary of a result as machine-readable data (``hedgesim show RESULT --format
json|csv``; docs/run.md, "Machine-readable summaries").

* ``summary_values(ds)``: every summary number of the result with its units, keyed
  ``name`` or ``name[dim=value;...]`` (per-path and per-window arrays are left out: they
  are the data, not the summary).
* ``to_json(ds, path)``: one JSON object: ``kind``, ``result``, the run's identity
  (``hedgesim_version``, ``created``, ``command``, ``config_source``, ``paths``, ``seed``,
  ``horizon``, ``overrides``, ...) and ``values``: ``{key: {"value": x, "units": u}}``.
  Undefined numbers are ``null``.
* ``to_csv(ds)``: one row per hedge variant (run, margin curve), scenario (stress),
  window (replay), method (backtest) or plan (frontier); the first columns name the row,
  and every header cell carries its units: ``liquidation_probability (1)``,
  ``value_at_risk[portfolio=hedged;level=0.99] (USD)``. Undefined numbers are empty.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math

import numpy as np
import pandas as pd
import xarray as xr

from sim.results.kinds import kind_of, sweep_dims
from sim.results.meta import overrides_of

# dims of the data rather than the summary, left out of every kind
DATA_DIMS = {"path", "sample", "sample_time"}
# ... and of some kinds: the margin curve's collateral grid, a backtest's windows
KIND_DATA_DIMS = {"margin": {"collateral"}, "backtest": {"start"}}
# attrs that say what the numbers are (whichever the result has)
IDENTITY = ("hedgesim_version", "created", "command", "config_source", "model", "paths", "steps", "dt", "horizon",
            "seed", "margin_unit", "method", "prices", "funding", "window", "step")


def row_dims(ds: xr.Dataset, kind: str | None = None) -> list[str]:
    """The dims whose every combination is one CSV row."""
    kind = kind or kind_of(ds)
    if kind == "run":
        return sweep_dims(ds)
    if kind == "margin":
        return [d for d in ds["min_collateral"].dims if d != "target"]
    if kind == "stress":
        return ["scenario"]
    if kind == "replay":
        return ["start"]
    if kind == "backtest":
        return [d for d in ("model", "calibration") if d in ds.dims]
    if kind == "frontier":
        return [d for d in ("collateral", "reserve", "trigger_fraction") if d in ds.dims]
    return []


def _units(da: xr.DataArray) -> str:
    """The units of a variable or coordinate; times are UTC (their encoding carries CF units)."""
    if np.issubdtype(da.dtype, np.datetime64):
        return "UTC"
    return str(da.attrs.get("units", ""))


def _summary_vars(ds: xr.Dataset, kind: str) -> list[str]:
    skip = DATA_DIMS | KIND_DATA_DIMS.get(kind, set())
    return [str(v) for v in ds.data_vars if not set(ds[v].dims) & skip]


def _label(x) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{float(x):g}"
    if isinstance(x, np.datetime64):
        return _plain(x)
    return str(x)


def _plain(x):
    """A JSON-able scalar: float (None when undefined), int, bool, str (times in ISO 8601 UTC)."""
    if isinstance(x, np.ndarray):
        x = x.item() if x.ndim == 0 else x.tolist()
    if isinstance(x, (np.datetime64, pd.Timestamp)):
        t = pd.Timestamp(x)
        return None if pd.isna(t) else t.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(x, np.timedelta64):
        return float(x / np.timedelta64(1, "s"))
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    return x if isinstance(x, (str, type(None))) else str(x)


def _cells(da: xr.DataArray, name: str) -> list[tuple[str, object]]:
    """(key, value) of every element of ``da``: ``name[dim=value;...]``."""
    if not da.dims:
        return [(name, _plain(da.values))]
    out = []
    for idx in itertools.product(*[range(da.sizes[d]) for d in da.dims]):
        sel = dict(zip(da.dims, idx))
        where = ";".join(f"{d}={_label(da[d].values[i]) if d in da.coords else i}" for d, i in sel.items())
        out.append((f"{name}[{where}]", _plain(da.isel(sel).values)))
    return out


def summary_values(ds: xr.Dataset) -> dict[str, dict]:
    """``{key: {"value": x, "units": u}}`` of every summary number of ``ds``."""
    kind = kind_of(ds)
    values = {}
    for name in _summary_vars(ds, kind):
        units = _units(ds[name])
        for key, x in _cells(ds[name], name):
            values[key] = {"value": x, "units": units}
    return values


def identity(ds: xr.Dataset) -> dict:
    out = {k: _plain(ds.attrs[k]) for k in IDENTITY if k in ds.attrs}
    given = overrides_of(ds.attrs)
    out["overrides"] = given["set"]
    out["sweep_overrides"] = given["sweep"]
    return out


def to_json(ds: xr.Dataset, path: str = "") -> str:
    doc = {"kind": kind_of(ds), "result": str(path), **identity(ds), "values": summary_values(ds)}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def to_csv(ds: xr.Dataset) -> str:
    kind = kind_of(ds)
    rows_by = row_dims(ds, kind)
    label_cols: list[tuple[str, str]] = []  # (header, coord name)
    for d in rows_by:
        label_cols.append((f"{d} ({_units(ds[d]) or '1'})" if d in ds.coords else d, d))
        for c, coord in ds.coords.items():  # e.g. a stress scenario's type
            if c != d and coord.dims == (d,):
                label_cols.append((f"{c} ({_units(coord) or '1'})", str(c)))
    names = _summary_vars(ds, kind)
    combos = list(itertools.product(*[range(ds.sizes[d]) for d in rows_by])) or [()]
    header: list[str] = [h for h, _ in label_cols]
    rows = []
    for combo in combos:
        sel = dict(zip(rows_by, combo))
        row = [_label(ds[c].values[sel[c]] if c in sel else ds[c].isel(sel).values.item()) for _, c in label_cols]
        cols = []
        for name in names:
            da = ds[name].isel({d: i for d, i in sel.items() if d in ds[name].dims})
            units = _units(ds[name])
            cols += [(f"{key} ({units})" if units else key, x) for key, x in _cells(da, name)]
        if not rows:
            header += [h for h, _ in cols]
        row += ["" if x is None else x for _, x in cols]
        rows.append(row)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()
