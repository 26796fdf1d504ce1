"""Per-path arrays -> ``xarray.Dataset`` with its summary (SPEC §6).

Every variable that leaves the kernel gets its name, units and meaning here, once
(``PER_PATH``). ``summarize`` computes the summary variables from the per-path variables
of any Dataset that follows the contract, so a result read back from disk is summarised
by exactly the same code.
"""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata

import numba
import numpy as np
import xarray as xr

from . import rng, stats
from .engine import RawRun

LEVELS = np.array([0.95, 0.99, 0.999])
QUANTILES = np.array([0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999])
PORTFOLIOS = ["hedged", "unhedged"]


def _version() -> str:
    try:
        return metadata.version("hedgesim")
    except metadata.PackageNotFoundError:  # running from a source tree
        from . import __version__

        return __version__


# name: (units, long_name); "{m}" is the margin currency (BTC inverse, USD linear)
PER_PATH = {
    "index_T": ("USD", "spot index at the horizon"),
    "mark_T": ("USD", "perpetual mark price at the horizon"),
    "liquidated": ("1", "hedge liquidated before or at the horizon"),
    "liquidation_time": ("days", "time of liquidation (NaN if never liquidated)"),
    "hedged_value": ("USD", "stack + hedge account value at the horizon"),
    "unhedged_value": ("USD", "value of the same holdings without the futures position"),
    "hedged_pnl": ("USD", "hedged value minus initial wealth"),
    "unhedged_pnl": ("USD", "unhedged value minus initial wealth"),
    "funding": ("{m}", "funding received by the short (negative: paid), while open"),
    "funding_usd": ("USD", "funding received, each payment valued at the index when received"),
    "fees": ("{m}", "taker fees paid (open, and close at the horizon if not liquidated)"),
    "min_margin_level": ("1", "minimum of equity / maintenance margin while open (NaN: no maintenance)"),
    "required_collateral": ("{m}", "smallest collateral that avoids liquidation on this path (SPEC §5)"),
    "max_drawdown": ("USD", "maximum peak-to-trough fall of the hedged portfolio value"),
}


def build_dataset(raw: RawRun) -> xr.Dataset:
    """Assemble the per-path Dataset of one run (single hedge variant) and its summary."""
    cfg = raw.cfg
    o = raw.outputs
    h = raw.hedges[0]
    m_unit = h.margin_unit
    n = raw.paths
    spot = cfg.market.spot
    index_T = o.index_T
    if h.kind == 0:  # inverse: the collateral is BTC
        w0 = (h.stack + h.collateral) * spot
        unhedged = (h.stack + h.collateral) * index_T
    else:
        w0 = h.stack * spot + h.collateral
        unhedged = h.stack * index_T + h.collateral
    hedged = o.hedged_value[:, 0]
    data = {
        "index_T": index_T,
        "mark_T": o.mark_T,
        "liquidated": o.liquidated[:, 0],
        "liquidation_time": o.liquidation_time[:, 0],
        "hedged_value": hedged,
        "unhedged_value": unhedged,
        "hedged_pnl": hedged - w0,
        "unhedged_pnl": unhedged - w0,
        "funding": o.funding[:, 0],
        "funding_usd": o.funding_usd[:, 0],
        "fees": o.fees[:, 0],
        "min_margin_level": o.min_margin_level[:, 0],
        "required_collateral": o.required_collateral[:, 0],
        "max_drawdown": o.max_drawdown[:, 0],
    }
    ds = xr.Dataset(coords={"path": np.arange(n, dtype=np.int64)})
    for name, values in data.items():
        units, long_name = PER_PATH[name]
        ds[name] = ("path", values, {"units": units.format(m=m_unit), "long_name": long_name})

    if o.saved.shape[0] > 0:
        t_days = np.arange(o.saved.shape[1]) * raw.save_every * raw.market.dt_years * 365.0
        ds = ds.assign_coords(sample=np.arange(o.saved.shape[0]), sample_time=("sample_time", t_days, {"units": "days"}))
        for k, (name, units, ln) in enumerate([
            ("sample_index", "USD", "spot index along stored sample paths"),
            ("sample_mark", "USD", "mark price along stored sample paths"),
            ("sample_funding_rate", "per funding interval", "funding rate along stored sample paths"),
            ("sample_equity", m_unit, "hedge account equity along stored sample paths (0 after liquidation)"),
        ]):
            ds[name] = (("sample", "sample_time"), o.saved[:, :, k], {"units": units, "long_name": ln})

    ds.attrs.update({
        "title": "hedgesim result",
        "hedgesim_version": _version(),
        "config": cfg.to_json(),
        "config_source": cfg.source,
        "seed": int(raw.seed),
        "paths": int(n),
        "model": cfg.market.model,
        "contract": cfg.position.contract,
        "margin_unit": m_unit,
        "dt": cfg.simulation.dt,
        "dt_years": raw.market.dt_years,
        "steps": int(raw.market.steps),
        "horizon": cfg.simulation.horizon,
        "horizon_days": raw.market.steps * raw.market.dt_years * 365.0,
        "initial_wealth_usd": float(w0),
        "hedge_size": float(h.size),
        "hedge_size_units": "USD" if h.kind == 0 else "BTC",
        "contracts": int(h.contracts),
        "entry_price": float(h.entry),
        "collateral": float(h.collateral),
        "wall_time_s": float(raw.wall_time),
        "path_steps_per_second": float(n * raw.market.steps / raw.wall_time) if raw.wall_time > 0 else math.nan,
        "threads": int(raw.threads),
        "rng": rng.ALGORITHM,
        "rng_block_paths": int(rng.BLOCK),
        "numba_version": numba.__version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
    })
    ds["liquidation_price"] = ((), h.liquidation_price, {
        "units": "USD", "long_name": "mark price that liquidates the fresh position (open fee included, "
        "funding excluded; NaN if none)"})
    return summarize(ds)


def summarize(ds: xr.Dataset) -> xr.Dataset:
    """Add (or recompute) the summary variables of SPEC §6 from the per-path variables."""
    ds = ds.drop_vars([v for v in SUMMARY_VARS if v in ds], errors="ignore")
    m_unit = ds.attrs.get("margin_unit", ds["funding"].attrs.get("units", "BTC"))
    ds = ds.assign_coords(level=("level", LEVELS), quantile=("quantile", QUANTILES),
                          portfolio=("portfolio", PORTFOLIOS))

    liq = xr.apply_ufunc(
        lambda x: np.array(stats.proportion(x)), ds["liquidated"],
        input_core_dims=[["path"]], output_core_dims=[["_stat"]], vectorize=True,
        dask="forbidden")
    for k, suffix in enumerate(["", "_se", "_low", "_high"]):
        ds["liquidation_probability" + suffix] = liq.isel(_stat=k)
    ds["liquidation_probability"].attrs = {"units": "1", "long_name": "probability that the hedge is liquidated within the horizon"}
    ds["liquidation_probability_se"].attrs = {"units": "1", "long_name": "standard error of the liquidation probability"}
    ds["liquidation_probability_low"].attrs = {"units": "1", "long_name": "95 % Wilson interval, lower end"}
    ds["liquidation_probability_high"].attrs = {"units": "1", "long_name": "95 % Wilson interval, upper end"}

    pnl = xr.concat([ds["hedged_pnl"], ds["unhedged_pnl"]], dim=xr.DataArray(PORTFOLIOS, dims="portfolio"))
    pnl = pnl.drop_vars("portfolio").assign_coords(portfolio=PORTFOLIOS)

    def _risk(x):
        v, vse, e, ese = stats.var_es(x, LEVELS)
        return np.stack([v, vse, e, ese])

    risk = xr.apply_ufunc(_risk, pnl, input_core_dims=[["path"]], output_core_dims=[["_stat", "level"]],
                          vectorize=True).assign_coords(level=LEVELS)
    ds["var"] = risk.isel(_stat=0).assign_attrs(units="USD", long_name="value at risk of PnL (positive = loss)")
    ds["var_se"] = risk.isel(_stat=1).assign_attrs(units="USD", long_name="standard error of VaR (order statistics)")
    ds["es"] = risk.isel(_stat=2).assign_attrs(units="USD", long_name="expected shortfall of PnL (positive = loss)")
    ds["es_se"] = risk.isel(_stat=3).assign_attrs(units="USD", long_name="standard error of ES")

    mom = xr.apply_ufunc(lambda x: np.array(stats.mean_se(x)), pnl, input_core_dims=[["path"]],
                         output_core_dims=[["_stat"]], vectorize=True)
    ds["pnl_mean"] = mom.isel(_stat=0).assign_attrs(units="USD", long_name="mean PnL at the horizon")
    ds["pnl_mean_se"] = mom.isel(_stat=1).assign_attrs(units="USD", long_name="standard error of the mean PnL")
    ds["pnl_std"] = mom.isel(_stat=2).assign_attrs(units="USD", long_name="standard deviation of PnL")
    ds["pnl_quantile"] = xr.apply_ufunc(
        lambda x: stats.quantiles(x, QUANTILES), pnl, input_core_dims=[["path"]],
        output_core_dims=[["quantile"]], vectorize=True).assign_coords(quantile=QUANTILES).assign_attrs(
        units="USD", long_name="quantiles of PnL")
    var_h = ds["hedged_value"].var("path", ddof=1)
    var_u = ds["unhedged_value"].var("path", ddof=1)
    ds["hedge_effectiveness"] = xr.where(var_u > 0, 1.0 - var_h / var_u.where(var_u > 0), np.nan).assign_attrs(
        units="1", long_name="1 - Var(hedged PnL) / Var(unhedged PnL) (NaN when the unhedged PnL does not vary)")

    for name, src, units, ln in [
        ("funding_mean", "funding", m_unit, "mean funding received (negative: paid)"),
        ("funding_usd_mean", "funding_usd", "USD", "mean funding received, valued in USD when received"),
        ("fees_mean", "fees", m_unit, "mean taker fees paid"),
        ("max_drawdown_mean", "max_drawdown", "USD", "mean maximum drawdown of the hedged portfolio"),
    ]:
        fm = xr.apply_ufunc(lambda x: np.array(stats.mean_se(x)[:2]), ds[src], input_core_dims=[["path"]],
                            output_core_dims=[["_stat"]], vectorize=True)
        ds[name] = fm.isel(_stat=0).assign_attrs(units=units, long_name=ln)
        ds[name + "_se"] = fm.isel(_stat=1).assign_attrs(units=units, long_name="standard error of " + name)
    ds["level"].attrs = {"units": "1", "long_name": "confidence level of VaR / ES"}
    ds["quantile"].attrs = {"units": "1", "long_name": "probability level of the PnL quantile"}
    return ds


SUMMARY_VARS = [
    "liquidation_probability", "liquidation_probability_se", "liquidation_probability_low",
    "liquidation_probability_high", "var", "var_se", "es", "es_se", "pnl_mean", "pnl_mean_se", "pnl_std",
    "pnl_quantile", "hedge_effectiveness", "funding_mean", "funding_mean_se", "funding_usd_mean",
    "funding_usd_mean_se", "fees_mean", "fees_mean_se", "max_drawdown_mean", "max_drawdown_mean_se",
]


def config_of(ds: xr.Dataset) -> dict:
    """The resolved config stored in a result's attrs."""
    return json.loads(ds.attrs["config"])
