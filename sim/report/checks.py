"""What ``hedgesim report`` checks in a result before it draws anything: a damaged or
foreign store is one ``ResultFileError`` naming the result and what is wrong with it (the
CLI prints one line, exit status 2), never a traceback or a figure drawn from garbage.

* ``check_result``: the kind (a run, a margin curve, a frontier or a backtest), every attribute the report reads
  (type and range), every variable it reads (present, numeric, with the dims it needs) and
  the coordinate values it selects (``level`` 0.99, ``quantile_level`` 0.001 ... 0.999,
  ``portfolio`` hedged / unhedged); it loads every variable without a ``path`` dim, so a
  chunk of one that cannot be decoded is named here.
* ``reading``: around the figures, which read per-path variables a slice at a time from
  the lazily opened store; an error there (a zarr/numcodecs decoding error, an HDF error)
  is traced to the variable that cannot be read and re-raised as ``ResultFileError``.
  An error that no variable explains is a bug and goes on as it is.

The result files' own checks (completion marker, checksums, missing chunks) are
``sim.results.io.read``'s.
"""

from __future__ import annotations

import json
import math
import numbers
from contextlib import contextmanager

import numpy as np
import xarray as xr

from sim.errors import ResultFileError
from sim.results.kinds import kind_of, sweep_dims

# attrs the report reads: name -> (type, test of the value, what it must be)
_INT = (numbers.Integral,)
_REAL = (numbers.Real,)
_STR = (str,)


def _finite(x) -> bool:
    return math.isfinite(float(x))


ATTRS = {
    "paths": (_INT, lambda v: v >= 0, "a number of paths (integer >= 0)"),
    "steps": (_INT, lambda v: v >= 0, "a number of steps (integer >= 0)"),
    "seed": (_INT, lambda v: v >= 0, "an integer >= 0"),
    "threads": (_INT, lambda v: v >= 0, "a number of threads (integer >= 0)"),
    "distributed_workers": (_INT, lambda v: v >= 0, "a number of workers (integer >= 0)"),
    "variants": (_INT, lambda v: v >= 1, "a number of hedge variants (integer >= 1)"),
    "wall_time_s": (_REAL, lambda v: math.isnan(v) or v >= 0, "a duration in seconds (>= 0)"),
    "path_steps_per_second": (_REAL, lambda v: math.isnan(v) or v >= 0, "a rate (>= 0)"),
    "horizon_days": (_REAL, lambda v: _finite(v) and v > 0, "a horizon in days (> 0)"),
    "entry_price": (_REAL, lambda v: _finite(v) and v > 0, "a price in USD (> 0)"),
    "importance_tilt": (_REAL, _finite, "a finite number"),
    "value_threshold_usd": (_REAL, _finite, "a finite number"),
    "position_value_at_entry": (_REAL, lambda v: math.isnan(v) or v > 0, "a value (> 0, or NaN)"),
    "margin_unit": (_STR, lambda v: v in ("BTC", "USD"), '"BTC" or "USD"'),
    "hedge_size_units": (_STR, lambda v: v in ("BTC", "USD"), '"BTC" or "USD"'),
    "contract": (_STR, lambda v: v in ("inverse", "linear"), '"inverse" or "linear"'),
    **{name: (_STR, lambda v: True, "a string") for name in (
        "title", "hedgesim_version", "config_source", "model", "dt", "horizon", "stress", "replay", "history", "method")},
    "config": (_STR, lambda v: True, "the resolved config as JSON"),
}

# variables the report reads, by kind: name -> dims it must have (at least)
RUN_PER_PATH = ("hedged_pnl", "unhedged_pnl", "liquidated", "liquidation_time", "funding")
RUN_SUMMARY = ("liquidation_probability", "liquidation_probability_low", "liquidation_probability_high",
               "pnl_mean", "pnl_quantile", "value_at_risk", "expected_shortfall", "expected_shortfall_se",
               "funding_mean", "funding_quantile", "collateral_posted", "hedge_size", "liquidation_price")
RUN_SINGLE = ("contracts", "leverage", "liquidation_time_quantile", "hedge_effectiveness", "funding_mean_se",
              "funding_usd_mean", "fees_mean", "max_drawdown_mean", "max_drawdown_quantile", "pnl_mean_se", "pnl_std",
              "es_hedged_minus_unhedged", "es_hedged_minus_unhedged_se")
RUN_SWEEP = ("liquidation_probability_vs_base", "liquidation_probability_vs_base_se", "es_hedged_vs_base",
             "es_hedged_vs_base_se")
FRONTIER = ("min_reserve", "min_reserve_trigger", "trigger", "expected_total_loss", "liquidation_probability",
            "exchange_loss_usd_mean")
# a backtest's variables: the first eight over "start", the others over "model"
BACKTEST = ("liquidated", "hedged_pnl", "unhedged_pnl", "non_overlapping", "predicted_liquidation_probability",
            "predicted_var", "predicted_es", "var_exception", "brier_score", "brier_score_non_overlapping",
            "bucket_predicted", "bucket_realised", "exceptions", "exceptions_all", "kupiec_pvalue",
            "christoffersen_pvalue")
MARGIN = ("min_collateral", "min_collateral_low", "min_collateral_high", "leverage", "paths_needed",
          "liquidation_probability", "liquidation_probability_low", "liquidation_probability_high")
DIMS = {"hedged_pnl": ("path",), "unhedged_pnl": ("path",), "liquidated": ("path",),
        "liquidation_time": ("path",), "funding": ("path",), "required_collateral": ("path",),
        "pnl_quantile": ("portfolio", "quantile_level"), "value_at_risk": ("portfolio", "level"),
        "expected_shortfall": ("portfolio", "level"), "expected_shortfall_se": ("portfolio", "level"),
        "funding_quantile": ("quantile_level",), "liquidation_time_quantile": ("quantile_level",),
        "max_drawdown_quantile": ("quantile_level",), "es_hedged_minus_unhedged": ("level",),
        "es_hedged_minus_unhedged_se": ("level",), "pnl_mean": ("portfolio",), "pnl_std": ("portfolio",),
        "pnl_mean_se": ("portfolio",), "min_collateral": ("target",), "paths_needed": ("target",),
        "liquidation_probability_vs_base": (), "sample_index": ("sample", "sample_time"),
        "sample_mark": ("sample", "sample_time")}
# coordinate values the report selects
COORDS = {"portfolio": ("hedged", "unhedged"), "level": (0.99,),
          "quantile_level": (0.001, 0.05, 0.5, 0.95, 0.99, 0.999)}


def _err(source: str, what: str) -> ResultFileError:
    return ResultFileError(f"result {source!r}: {what} (damaged, or not written by hedgesim)")


def check_attrs(ds: xr.Dataset, source: str) -> None:
    """Every attr the report reads has the type and range it must have; ``config`` is a
    JSON object (its ``position`` too)."""
    for name, (types, ok, what) in ATTRS.items():
        if name not in ds.attrs:
            continue
        v = ds.attrs[name]
        if isinstance(v, np.generic):
            v = v.item()
        valid = isinstance(v, types) and not isinstance(v, bool)
        try:
            valid = valid and bool(ok(v))
        except (TypeError, ValueError, OverflowError):
            valid = False
        if not valid:
            raise _err(source, f"attribute {name} = {str(v)[:60]!r} is not {what}")
    if "config" in ds.attrs:
        try:
            cfg = json.loads(ds.attrs["config"])
        except ValueError:
            raise _err(source, "attribute config is not JSON") from None
        pos = cfg.get("position", {}) if isinstance(cfg, dict) else None
        if not isinstance(pos, dict):
            raise _err(source, "attribute config is not a JSON object of sections")
        c, hc = pos.get("collateral"), pos.get("hedge_collateral", False)
        if not (c is None or isinstance(c, (int, float)) and not isinstance(c, bool)) or not isinstance(hc, bool):
            raise _err(source, "attribute config: position.collateral or position.hedge_collateral malformed")
    if kind_of(ds) == "margin" and "method" not in ds.attrs:
        raise _err(source, "attribute method is missing")
    if "shortfall_probability" in ds and "value_threshold_usd" not in ds.attrs:
        raise _err(source, "attribute value_threshold_usd is missing")


def _required(ds: xr.Dataset, kind: str) -> list[str]:
    if kind == "margin":
        return list(MARGIN)
    if kind == "frontier":
        return list(FRONTIER)
    if kind == "backtest":
        return list(BACKTEST)
    names = list(RUN_PER_PATH) + list(RUN_SUMMARY) + list(RUN_SWEEP if sweep_dims(ds) else RUN_SINGLE)
    if "sample_index" in ds or "sample_mark" in ds:
        names += ["sample_index", "sample_mark", "sample_time"]
    return names


def check_result(ds: xr.Dataset, source: str) -> xr.Dataset:
    """``ds`` (opened lazily) checked for the report; returns it with every variable that
    has no ``path`` dim loaded. Raises ``ResultFileError`` naming what is wrong."""
    kind = kind_of(ds)
    if kind not in ("run", "margin", "frontier", "backtest"):
        raise ResultFileError(f"result {source!r}: neither a simulation result (hedgesim run) nor a margin "
                              "curve or frontier (hedgesim margin) nor a backtest; nothing to report")
    if kind == "backtest":
        for name in ("window", "step", "calibration_window", "drift", "prices"):
            if not isinstance(ds.attrs.get(name), str):
                raise _err(source, f"attribute {name} is missing or not a string")
        if not isinstance(ds.attrs.get("paths_per_forecast"), (int, np.integer)):
            raise _err(source, "attribute paths_per_forecast is missing or not an integer")
    if kind == "frontier":
        for name in ("target", "static_min_collateral", "static_expected_total_loss"):
            if not isinstance(ds.attrs.get(name), (int, float, np.floating)):
                raise _err(source, f"attribute {name} is missing or not a number")
    check_attrs(ds, source)
    if kind == "run" and ds.sizes["path"] < 1:
        raise _err(source, "no paths")
    for name in _required(ds, kind):
        if name not in ds.variables:
            raise _err(source, f"variable {name!r} is missing")
        da = ds[name]
        if da.dtype.kind not in "fiub":
            raise _err(source, f"variable {name!r} has dtype {da.dtype}, not a number")
        need = (("start",) if name in BACKTEST[:8] else ("model",)) if kind == "backtest" else DIMS.get(name, ())
        missing = [d for d in need if d not in da.dims]
        if missing:
            raise _err(source, f"variable {name!r} lacks the dim {missing[0]!r}")
    for coord, values in COORDS.items():
        if kind == "run" and coord in ds.coords:
            have = set(ds[coord].values.tolist())
            lacking = [v for v in values if v not in have]
            if lacking:
                raise _err(source, f"coordinate {coord!r} does not hold {lacking[0]!r}")
    for name, var in ds.variables.items():
        if "path" in var.dims:
            continue  # read a slice at a time by the figures
        try:
            var.load()  # in place: the figures and the page read it from memory
        except ResultFileError:  # sim.results.io names the variable already
            raise
        except Exception as exc:  # noqa: BLE001 - any decoding error of a damaged chunk
            raise _cannot_read(source, name, exc) from None
    if "sample_index" in ds:
        s = ds["sample_index"]
        if s.shape != ds["sample_mark"].shape or s.sizes["sample_time"] != ds["sample_time"].size:
            raise _err(source, "the sample paths' shapes do not agree")
    return ds


def _cannot_read(source: str, name: str, exc: BaseException) -> ResultFileError:
    msg = " ".join(str(exc).split())[:160]
    return ResultFileError(f"result {source!r}: variable {name!r} cannot be read ({type(exc).__name__}: {msg})")


SLICE = 1 << 20


def first_unreadable(ds: xr.Dataset) -> tuple[str, BaseException] | None:
    """The first per-path variable (and its error) that cannot be read, a slice at a time."""
    for name, v in ds.variables.items():
        if "path" not in v.dims:
            continue
        try:
            n = v.sizes["path"]
            for a in range(0, n, SLICE):
                np.asarray(ds[name].isel(path=slice(a, min(n, a + SLICE))).values)
        except Exception as exc:  # noqa: BLE001 - whatever the codec or the file raises
            return name, exc
    return None


@contextmanager
def reading(ds: xr.Dataset, source: str):
    """Errors raised while the block reads ``ds`` lazily become ``ResultFileError`` naming the
    variable that cannot be read; others (bugs) go on unchanged."""
    try:
        yield
    except ResultFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - traced to a variable below, else re-raised
        bad = first_unreadable(ds)
        if bad is None:
            raise
        name, err = bad
        if isinstance(err, ResultFileError):
            raise err from None
        raise _cannot_read(source, name, err) from None
