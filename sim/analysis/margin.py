"""How much collateral: liquidation probability at every collateral level from one run
(docs/margin.md; printed by ``sim.report.text.format_margin``).

The collateral identity (docs/model.md): with the hedge size fixed, a path is liquidated iff collateral <= R, where
R = ``required_collateral`` does not depend on the collateral. This holds for a flat rate
and for tiered maintenance margins alike here, because the tier is chosen by the
position value, which does not depend on the collateral. So

    P(liquidation | C) = P(R >= C),

the survival function of R, exactly, on the simulated paths. The minimum collateral for a
target probability p is the (m+1)-th largest R, m = floor(n p): posting more than it
leaves at most m of n paths liquidated. Its 95 % interval comes from the order
statistics (ranks m+1 -+ 1.96 sqrt(n p (1 - p))), distribution-free.

With ``position.hedge_collateral = true`` the hedge size grows with the collateral and the
identity no longer holds; the curve is then evaluated directly: one run per grid point
on the same seed (common random numbers).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import xarray as xr

from sim import engine, results
from sim.engine.management import resolve_management
from sim.errors import ConfigError
from sim.instruments.perpetual import INVERSE, LINEAR, position_value
from sim.results import meta
from sim.results.kinds import first_variant
from sim.results.stats import Z95, wilson_interval

MIN_EVENTS = 100  # paths beyond the quantile needed for a usable estimate (~20 % relative, 95 %)
GRID = 121
MAX_CURVE_PATHS = 20_000_000  # beyond this the curve of a run result uses every k-th path


MIN_TARGET, MAX_TARGET = 1e-9, 0.5  # allowed target liquidation probabilities: [MIN_TARGET, MAX_TARGET)


def check_targets(targets: list[float]) -> None:
    """ConfigError, before anything is simulated, for a target outside [1e-9, 0.5) or repeated."""
    for t in targets:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (MIN_TARGET <= t < MAX_TARGET):
            raise ConfigError(f"--target {t!r}: out of range; allowed 1e-9 <= P < 0.5 (a target is a small "
                              f"liquidation probability, and resolving P takes about {MIN_EVENTS}/P paths: 1e11 "
                              "at P = 1e-9)")
    if len(set(targets)) != len(targets):
        raise ConfigError(f"--target: a target is given twice ({', '.join(f'{t:g}' for t in targets)})")


def check_hedged(cfg) -> None:
    """ConfigError, before simulating, if a variant has no hedge (hedge_ratio or stack 0):
    without a position nothing is liquidated and there is no curve to draw."""
    dims, vcfgs = engine.variants(cfg)
    for vc in vcfgs:
        if engine.resolve_hedge(vc).size == 0:
            label = ", ".join(f"{d}={vc.to_dict()[k.split('.')[0]][k.split('.')[1]]}" for d, k, _ in dims)
            raise ConfigError(f"{'sweep variant (' + label + '): ' if dims else ''}no hedge to margin "
                              f"(position.hedge_ratio = {vc.position.hedge_ratio:g}, position.stack = "
                              f"{vc.position.stack:g}); hedgesim margin needs a short position")


def paths_needed(target: float, events: int = MIN_EVENTS) -> int:
    return int(math.ceil(events / target))


def min_collateral(r: np.ndarray, target: float) -> tuple[float, float, float]:
    """(estimate, 95 % low, 95 % high) of the smallest collateral with P(liq) <= target;
    NaN when the paths cannot resolve the target (fewer than MIN_EVENTS beyond it)."""
    n = r.size
    if n * target < MIN_EVENTS:
        return math.nan, math.nan, math.nan
    desc = np.sort(r)[::-1]
    m = int(math.floor(n * target))
    w = Z95 * math.sqrt(n * target * (1 - target))
    k = m + 1
    lo_rank = min(n, int(math.ceil(k + w)))  # a larger rank is a smaller value
    hi_rank = max(1, int(math.floor(k - w)))
    return float(max(desc[k - 1], 0.0)), float(max(desc[lo_rank - 1], 0.0)), float(max(desc[hi_rank - 1], 0.0))


def curve_from_required(r: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(R >= C) on the grid with 95 % Wilson intervals."""
    n = r.size
    srt = np.sort(r)
    count = n - np.searchsorted(srt, grid, side="left")  # number of R >= C
    p = count / n
    lo = np.empty_like(p)
    hi = np.empty_like(p)
    for i, c in enumerate(count):
        lo[i], hi[i] = wilson_interval(float(c), n)
    return p, lo, hi


def collateral_grid(r: np.ndarray, current: float, points: int = GRID) -> np.ndarray:
    """From (almost) no collateral to beyond the 99.99 % quantile of R, including the
    configured collateral."""
    top = float(np.quantile(r, 0.9999)) if r.size else 1.0
    top = max(top * 1.25, current * 1.5, 1e-9)
    grid = np.linspace(0.0, top, points)
    return np.unique(np.append(grid, current))


def margin_dataset(r: np.ndarray, targets: list[float], current: float, position_value_at_entry: float,
                   unit: str) -> xr.Dataset:
    """The curve and the minimum collateral per target, for one hedge variant."""
    grid = collateral_grid(r, current)
    p, lo, hi = curve_from_required(r, grid)
    with np.errstate(divide="ignore"):
        lev = np.where(grid > 0, position_value_at_entry / grid, np.inf)
    mins = np.array([min_collateral(r, t) for t in targets]).reshape(len(targets), 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        min_lev = position_value_at_entry / mins[:, 0]
    ds = xr.Dataset(
        {
            "liquidation_probability": ("collateral", p, {"units": "1", "long_name": "P(liquidated within the horizon)"}),
            "liquidation_probability_low": ("collateral", lo, {"units": "1", "long_name": "95 % Wilson interval, lower"}),
            "liquidation_probability_high": ("collateral", hi, {"units": "1", "long_name": "95 % Wilson interval, upper"}),
            "min_collateral": ("target", mins[:, 0], {"units": unit, "long_name": "smallest collateral with P(liq) <= target"}),
            "min_collateral_low": ("target", mins[:, 1], {"units": unit, "long_name": "95 % interval, lower"}),
            "min_collateral_high": ("target", mins[:, 2], {"units": unit, "long_name": "95 % interval, upper"}),
            "leverage": ("target", min_lev, {"units": "1", "long_name": "position value at entry / min_collateral"}),
            "paths_needed": ("target", np.array([paths_needed(t) for t in targets]),
                             {"units": "paths", "long_name": f"paths for >= {MIN_EVENTS} liquidations beyond the target"}),
        },
        coords={
            "collateral": ("collateral", grid, {"units": unit, "long_name": "collateral posted"}),
            "target": ("target", np.asarray(targets, dtype=float), {"units": "1", "long_name": "target liquidation probability"}),
        },
    )
    ds = ds.assign_coords(leverage_at=("collateral", lev, {"units": "1", "long_name": "leverage at this collateral"}))
    ds.attrs["position_value_at_entry"] = float(position_value_at_entry)
    return ds


# --------------------------------------------------------------------------- the command


class MarginResult(NamedTuple):
    curve: xr.Dataset  # the curve file of hedgesim margin
    tiered: bool  # a tiered maintenance margin (the identity still holds; the printed answer says so)


def run_margin(cfg, targets: list[float], **run_kw) -> MarginResult:
    """``hedgesim margin``: simulate once, build the curve and the minimum collateral per
    target for every hedge variant (sweep dims kept)."""
    check_targets(targets)
    if "position.collateral" in cfg.sweep:
        raise ConfigError('sweep."position.collateral": hedgesim margin evaluates every collateral level itself; '
                          "remove it from the sweep")
    # the collateral identity fails when the hedge grows with the collateral, and when a
    # policy or the exchange moves margin along the path: then evaluate the grid directly
    managed = resolve_management(cfg).managed
    direct = cfg.position.hedge_collateral or managed
    if direct and cfg.sweep:
        raise ConfigError("hedgesim margin with position.hedge_collateral = true, a [policy] or exchange risk "
                          "evaluates a collateral grid "
                          "directly and does not combine with a sweep; run one variant at a time")
    check_hedged(cfg)
    raw = engine.simulate(cfg, **run_kw)
    ds_run = results.build_dataset(raw)
    dims = [d for d, _, _ in raw.sweep]
    shape = tuple(len(v) for _, _, v in raw.sweep)
    r_all = raw.outputs.required_collateral  # (n, V)
    parts = []
    for v, h in enumerate(raw.hedges):
        if direct:
            part = _direct_curve(cfg, h, targets, raw.seed, raw.paths, run_kw, r_all[:, v])
        else:
            part = margin_dataset(r_all[:, v], targets, h.collateral, h.position_value_at_entry, h.margin_unit)
        parts.append(part)
    if dims:
        # one collateral grid for all variants, so the curves stack along the sweep dims
        if not direct:
            grid = np.unique(np.concatenate([p["collateral"].values for p in parts]))
            parts = [_on_grid(p, r_all[:, v], grid) for v, p in enumerate(parts)]
        nested = np.empty(shape, dtype=object)
        for v, part in enumerate(parts):
            nested.flat[v] = part
        ds = xr.combine_nested(nested.tolist(), concat_dim=dims, join="outer")
        ds = ds.assign_coords({d: (d, np.asarray(vals)) for d, _, vals in raw.sweep})
    else:
        ds = parts[0]
    ds.attrs.update({k: ds_run.attrs[k] for k in ("config", "config_user", "config_source", "seed", "paths", "model",
                                                   "dt", "horizon", "steps", "hedgesim_version", "rng",
                                                   "rng_block_paths", "margin_unit")})
    ds.attrs["method"] = ("direct evaluation on the same paths (a [policy] or exchange risk: the collateral identity "
                          "does not hold)" if managed else
                          "direct evaluation on the same paths (hedge_collateral = true)" if direct else
                          "collateral identity: P(liq | C) = P(required_collateral >= C), exact on these paths")
    meta.stamp(ds, "sim.analysis.margin.run_margin(...)")  # format v1 attrs (sim.results.meta)
    return MarginResult(ds, any(len(h.tiers[0]) > 1 for h in raw.hedges))


def _on_grid(part: xr.Dataset, r: np.ndarray, grid: np.ndarray) -> xr.Dataset:
    """The same variant's curve evaluated on another collateral grid."""
    p, lo, hi = curve_from_required(r, grid)
    pv_entry = float(part.attrs["position_value_at_entry"])
    out = part.drop_dims("collateral").assign_coords(collateral=("collateral", grid, part["collateral"].attrs))
    with np.errstate(divide="ignore"):
        out = out.assign_coords(leverage_at=("collateral", np.where(grid > 0, pv_entry / grid, np.inf),
                                             part["leverage_at"].attrs))
    for name, vals in [("liquidation_probability", p), ("liquidation_probability_low", lo),
                       ("liquidation_probability_high", hi)]:
        out[name] = ("collateral", vals, part[name].attrs)
    return out


def _direct_curve(cfg, hedge, targets, seed, paths, run_kw, r=None) -> xr.Dataset:
    """hedge_collateral = true: the hedge grows with the collateral, so the identity does
    not hold; evaluate a grid of collateral levels as a sweep on the same paths (common
    random numbers). The minimum collateral is then the smallest grid level meeting the
    target (no order-statistic interval).

    The grid runs from 0 to ``top``: at least 4x the configured collateral, and far enough
    for the smallest resolvable target. With R scaling with the hedge size Q = h (N + C) S_0,
    the level meeting a target is about C* = q N / (N + C_0 - q), q the (1 - p) quantile of R
    at the configured C_0; if the grid still misses a resolvable target it is doubled
    (at most 4 times)."""
    base = cfg.without_sweep()
    n = int(paths)
    c0 = hedge.collateral
    top = max(4.0 * c0, 0.05)
    resolvable = [t for t in targets if n * t >= MIN_EVENTS]
    if r is not None and resolvable and hedge.stack > 0:
        finite = r[np.isfinite(r)]
        q = float(np.quantile(finite, 1.0 - min(resolvable))) if finite.size else math.nan
        if 0.0 < q < hedge.stack + c0:
            top = max(top, 1.5 * q * hedge.stack / (hedge.stack + c0 - q))
    for _ in range(5):
        raw, levels = _grid_run(base, top, paths, seed, run_kw)
        p = raw.outputs.liquidated.mean(axis=0)
        if all((p <= t).any() for t in resolvable):
            break
        top *= 2.0
    liq = raw.outputs.liquidated  # (n, G)
    ci = np.array([wilson_interval(float(k), n) for k in liq.sum(axis=0)])
    pv = np.array([h.position_value_at_entry for h in raw.hedges])
    grid = np.asarray(levels)
    mins, levs = [], []
    for t in targets:
        good = np.where(p <= t)[0]
        if good.size and n * t >= MIN_EVENTS:
            mins.append(grid[good[0]])
            levs.append(pv[good[0]] / grid[good[0]])
        else:
            mins.append(math.nan)
            levs.append(math.nan)
    unit = hedge.margin_unit
    nan = np.full(len(targets), np.nan)
    ds = xr.Dataset(
        {
            "liquidation_probability": ("collateral", p, {"units": "1", "long_name": "P(liquidated within the horizon)"}),
            "liquidation_probability_low": ("collateral", ci[:, 0], {"units": "1", "long_name": "95 % Wilson interval, lower"}),
            "liquidation_probability_high": ("collateral", ci[:, 1], {"units": "1", "long_name": "95 % Wilson interval, upper"}),
            "min_collateral": ("target", np.array(mins), {"units": unit, "long_name": "smallest grid collateral with P(liq) <= target"}),
            "min_collateral_low": ("target", nan, {"units": unit, "long_name": "not available for a direct grid"}),
            "min_collateral_high": ("target", nan, {"units": unit, "long_name": "not available for a direct grid"}),
            "leverage": ("target", np.array(levs), {"units": "1", "long_name": "position value at entry / min_collateral"}),
            "paths_needed": ("target", np.array([paths_needed(t) for t in targets]), {"units": "paths"}),
        },
        coords={"collateral": ("collateral", grid, {"units": unit, "long_name": "collateral posted"}),
                "target": ("target", np.asarray(targets, dtype=float), {"units": "1"}),
                "leverage_at": ("collateral", pv / grid, {"units": "1", "long_name": "leverage at this collateral"})},
    )
    ds.attrs["position_value_at_entry"] = math.nan
    return ds


def _grid_run(base, top, paths, seed, run_kw):
    """One sweep run over 40 collateral levels in (0, top] (levels below the initial
    maintenance margin are left out)."""
    levels = []
    for c in np.linspace(0.0, top, 41)[1:]:
        try:
            engine.resolve_hedge(base.replace({"position.collateral": float(c)}))
            levels.append(round(float(c), 12))
        except ConfigError:  # below the initial maintenance margin: not a valid level
            continue
    raw = engine.simulate(base.with_sweep({"position.collateral": levels}), paths=paths, seed=seed, **run_kw)
    return raw, levels


def margin_curve_of(ds: xr.Dataset, targets=(0.01, 0.001), max_paths: int = MAX_CURVE_PATHS) -> tuple[xr.Dataset, int]:
    """The curve of a run result (its first hedge variant) by the collateral identity, from
    its ``required_collateral``; with more than ``max_paths`` paths from every k-th path.
    Returns the curve (attrs ``paths``: the paths used) and k."""
    cfg = results.config_of(ds) if "config" in ds.attrs else {}
    v = first_variant(ds)
    n = ds.sizes["path"]
    step = max(1, -(-n // max_paths))
    r = np.asarray(v["required_collateral"].isel(path=slice(None, None, step)).values, dtype=np.float64)
    current = float(v["collateral_posted"]) if "collateral_posted" in v else float(
        cfg.get("position", {}).get("collateral", 0.0))
    entry = float(ds.attrs.get("entry_price", math.nan))
    size = float(v["hedge_size"]) if "hedge_size" in v else math.nan
    kind = INVERSE if ds.attrs.get("contract", "inverse") == "inverse" else LINEAR
    pv_entry = float(position_value(kind, size, entry))
    curve = margin_dataset(r, list(targets), current, pv_entry, ds.attrs.get("margin_unit", "BTC"))
    curve.attrs["paths"] = int(r.size)
    return curve, step
