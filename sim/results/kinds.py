"""What a result Dataset is, and how to read its shape.

* ``kind_of``: ``"run"`` (per-path simulation result of ``hedgesim run`` / ``sim.run``, also
  distributed), ``"margin"`` (curve of ``hedgesim margin``), ``"stress"`` (table of
  ``hedgesim stress``), ``"replay"`` / ``"backtest"`` (``hedgesim replay`` / ``backtest``) or
  ``"other"``.
* ``sweep_dims`` / ``first_variant``: the hedge-variant dims of a run (docs/sweeps.md) and
  the first variant.
* ``at_horizon``: a variable at the horizon (the last report time when it has a ``time`` dim).
"""

from __future__ import annotations

import xarray as xr

# the results of sim.data, by the title they carry
DATA_KINDS = {"hedgesim historical replay": "replay", "hedgesim walk-forward backtest": "backtest",
              "hedgesim margin frontier": "frontier"}


def kind_of(ds: xr.Dataset) -> str:
    if "hedged_pnl" in ds and "liquidated" in ds and "path" in ds.dims:
        return "run"
    if "min_collateral" in ds and "collateral" in ds.dims:
        return "margin"
    if "es99_hedged" in ds and "scenario" in ds.dims:
        return "stress"
    return DATA_KINDS.get(ds.attrs.get("title"), "other")


def sweep_dims(ds: xr.Dataset) -> list[str]:
    """The sweep dims of a run result, in order ([] without a sweep)."""
    return [d for d in ds["liquidated"].dims if d != "path"] if "liquidated" in ds else []


def first_variant(ds: xr.Dataset) -> xr.Dataset:
    dims = sweep_dims(ds)
    return ds.isel({d: 0 for d in dims}) if dims else ds


def at_horizon(da: xr.DataArray) -> xr.DataArray:
    return da.isel(time=-1) if "time" in da.dims else da
