"""Per-path arrays -> ``xarray.Dataset`` with its summary (docs/outputs.md).

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

from sim.kernel import rng

from sim.kernel.args import POLICY_OUTPUTS
from sim.results import meta
from sim.results.summary import summarize
from sim.version import __version__
from sim.config import SCHEMA
from sim.engine.simulate import RawRun



def _version() -> str:
    try:
        return metadata.version("hedgesim")
    except metadata.PackageNotFoundError:  # running from a source tree
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
    "required_collateral": ("{m}", "smallest collateral that avoids liquidation on this path (liquidated iff collateral <= this)"),
    "max_drawdown": ("USD", "maximum peak-to-trough fall of the hedged portfolio value"),
    **{name: (units, long_name) for name, units, long_name in POLICY_OUTPUTS},
    "weight": ("1", "importance-sampling likelihood ratio of the path (estimates are weighted by it)"),
}


def build_dataset(raw: RawRun) -> xr.Dataset:
    """Assemble the per-path Dataset of one run and its summary.

    Per-path variables have dims ``path`` plus one dim per swept key (C order of the
    sweep); with ``simulation.report_at`` the values and PnLs also have a ``time`` dim
    (days; the horizon is the last time)."""
    cfg = raw.cfg
    o = raw.outputs
    n = raw.paths
    spot = cfg.market.spot
    dims = [d for d, _, _ in raw.sweep]
    shape = tuple(len(v) for _, _, v in raw.sweep)
    V = len(raw.hedges)
    R = len(raw.report_steps)
    hs = raw.hedges
    kinds = {h.kind for h in hs}
    m_unit = hs[0].margin_unit if len(kinds) == 1 else "BTC (inverse) / USD (linear)"
    inv = np.array([h.kind == 0 for h in hs])
    stack = np.array([h.stack for h in hs])
    coll = np.array([h.collateral for h in hs])
    # what is held in the margin currency besides the stack: the collateral, plus the
    # exchange wallet and the top-up reserve of a managed hedge (docs/policies.md)
    held = coll + np.array([h.management.wallet + h.management.reserve for h in hs])
    # initial wealth and unhedged holdings: the collateral is BTC for inverse, USD for linear
    w0 = np.where(inv, (stack + held) * spot, stack * spot + held)  # (V,)
    btc = np.where(inv, stack + held, stack)
    usd = np.where(inv, 0.0, held)
    unhedged = btc[None, :, None] * o.index_at[:, None, :] + usd[None, :, None]  # (n, V, R)
    hedged = o.value_at  # (n, V, R)

    def shaped(x, with_time=False):
        """(n, V[, R]) -> (n, *sweep[, time]); drop the time axis when only T is reported."""
        if with_time:
            x = x.reshape((n,) + shape + (R,))
            return x if R > 1 else x[..., 0]
        return x.reshape((n,) + shape)

    pdims = ("path", *dims)
    tdims = pdims + (("time",) if R > 1 else ())
    data = {
        "index_T": (("path",), o.index_at[:, -1]),
        "mark_T": (("path",), o.mark_T),
        "liquidated": (pdims, shaped(o.liquidated)),
        "liquidation_time": (pdims, shaped(o.liquidation_time)),
        "hedged_value": (tdims, shaped(hedged, True)),
        "unhedged_value": (tdims, shaped(unhedged, True)),
        "hedged_pnl": (tdims, shaped(hedged - w0[None, :, None], True)),
        "unhedged_pnl": (tdims, shaped(unhedged - w0[None, :, None], True)),
        "funding": (pdims, shaped(o.funding)),
        "funding_usd": (pdims, shaped(o.funding_usd)),
        "fees": (pdims, shaped(o.fees)),
        "min_margin_level": (pdims, shaped(o.min_margin_level)),
        "required_collateral": (pdims, shaped(o.required_collateral)),
        "max_drawdown": (pdims, shaped(o.max_drawdown)),
    }
    if o.policy.shape[0] > 0:  # a managed hedge: what the policy and the exchange did on each path
        for j, (name, _, _) in enumerate(POLICY_OUTPUTS):
            col = o.policy[:, :, j]
            if name in ("reserve_exhausted", "exchange_default"):
                col = col > 0.5
            elif name in ("top_ups", "rehedges"):
                col = col.astype(np.int32)
            data[name] = (pdims, shaped(np.ascontiguousarray(col)))
    coords = {"path": np.arange(n, dtype=np.int64)}
    for d, k, values in raw.sweep:
        attrs = {"long_name": f"swept {k}"}
        sec, _, key = k.partition(".")
        field = SCHEMA.get(sec, {}).get(key)
        if field is not None and field.unit and "/" not in field.unit:  # collateral: unit depends on contract
            attrs["units"] = field.unit
        elif field is not None and field.unit:
            attrs["units"] = m_unit if key == "collateral" else field.unit
        coords[d] = (d, np.asarray(values), attrs)
    if R > 1:
        coords["time"] = ("time", np.asarray(raw.report_steps) * raw.market.dt_years * 365.0,
                          {"units": "days", "long_name": "report time"})
    if np.any(o.log_weight != 0.0):
        data["weight"] = (("path",), np.exp(o.log_weight))
    ds = xr.Dataset(coords=coords)
    for name, (d, values) in data.items():
        units, long_name = PER_PATH[name]
        ds[name] = (d, values, {"units": units.format(m=m_unit), "long_name": long_name})
    # per-variant facts of the hedge (scalars without a sweep)
    vdims = tuple(dims)
    for name, values, units, ln in [
        ("initial_wealth", w0, "USD", "initial wealth: stack + collateral (+ wallet and reserve) at t=0"),
        ("hedge_size", np.array([h.size for h in hs]), "USD (inverse) / BTC (linear)", "short position size"),
        ("contracts", np.array([h.contracts for h in hs]), "1", "number of contracts short"),
        ("collateral_posted", coll, m_unit, "collateral posted"),
        ("leverage", np.array([_leverage(h) for h in hs]), "1", "position value at entry / collateral"),
        ("liquidation_price", np.array([h.liquidation_price for h in hs]), "USD",
         "mark price that liquidates the fresh position (open fee included, funding excluded; NaN if none)"),
    ]:
        ds[name] = (vdims, np.asarray(values).reshape(shape), {"units": units, "long_name": ln})

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
        "config_user": json.dumps(meta.user_config(cfg), default=str),
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
        "hedge_size_units": "USD" if hs[0].kind == 0 else "BTC",
        "entry_price": float(hs[0].entry),
        "sweep": json.dumps({k: v for _, k, v in raw.sweep}),
        "stress": json.dumps(raw.info.get("stress")) if raw.info.get("stress") else "",
        "replay": raw.info.get("replay", ""),
        "history": raw.info.get("history", ""),
        "monitoring": cfg.simulation.monitoring,
        "antithetic": int(cfg.simulation.antithetic),
        "importance": str(cfg.simulation.importance),
        "importance_tilt": float(raw.info.get("importance_tilt", 0.0)),
        "adaptive": json.dumps(raw.info["adaptive"]) if "adaptive" in raw.info else "",
        "wall_time_s": float(raw.wall_time),
        "path_steps_per_second": float(n * raw.market.steps / raw.wall_time) if raw.wall_time > 0 else math.nan,
        "variants": int(V),
        "threads": int(raw.threads),
        "rng": rng.algorithm(cfg.simulation.rng),
        "rng_block_paths": int(rng.BLOCK),
        "numba_version": numba.__version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
    })
    return meta.stamp(summarize(ds), "sim.run(...)")


def _leverage(h) -> float:
    """Position value at entry over collateral (same currency): Q/E / C or q E / C."""
    if h.collateral <= 0:
        return math.inf
    return h.position_value_at_entry / h.collateral


def config_of(ds: xr.Dataset) -> dict:
    """The resolved config stored in a result's attrs."""
    return json.loads(ds.attrs["config"])
