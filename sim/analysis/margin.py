"""How much collateral: liquidation probability at every collateral level from one run.

SPEC §5: with the hedge size fixed, a path is liquidated iff collateral <= R, where
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

import itertools
import math

import numpy as np
import xarray as xr

from sim.results.stats import Z95, wilson_interval

MIN_EVENTS = 100  # paths beyond the quantile needed for a usable estimate (~20 % relative, 95 %)
GRID = 121


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


def run_margin(cfg, targets: list[float], **run_kw) -> tuple[xr.Dataset, str]:
    """``hedgesim margin``: simulate once, build the curve and the minimum collateral per
    target for every hedge variant (sweep dims kept), and the printed answer."""
    from sim import engine
    from sim import results
    from sim.config.core import ConfigError

    for t in targets:
        if not (0.0 < t < 1.0):
            raise ConfigError(f"--target {t:g}: out of range; allowed (0, 1)")
    if "position.collateral" in cfg.sweep:
        raise ConfigError('sweep."position.collateral": hedgesim margin evaluates every collateral level itself; '
                          "remove it from the sweep")
    direct = cfg.position.hedge_collateral
    if direct and cfg.sweep:
        raise ConfigError("hedgesim margin with position.hedge_collateral = true evaluates a collateral grid "
                          "directly and does not combine with a sweep; run one variant at a time")
    raw = engine.simulate(cfg, **run_kw)
    ds_run = results.build_dataset(raw)
    dims = [d for d, _, _ in raw.sweep]
    shape = tuple(len(v) for _, _, v in raw.sweep)
    r_all = raw.outputs.required_collateral  # (n, V)
    parts = []
    for v, h in enumerate(raw.hedges):
        pv_entry = h.size / h.entry if h.kind == 0 else h.size * h.entry
        if direct:
            part = _direct_curve(cfg, h, targets, raw.seed, raw.paths, run_kw, r_all[:, v])
        else:
            part = margin_dataset(r_all[:, v], targets, h.collateral, pv_entry, h.margin_unit)
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
    ds.attrs.update({k: ds_run.attrs[k] for k in ("config", "config_source", "seed", "paths", "model", "dt",
                                                   "horizon", "steps", "hedgesim_version", "rng", "rng_block_paths",
                                                   "margin_unit")})
    ds.attrs["method"] = ("direct evaluation on the same paths (hedge_collateral = true)" if direct else
                          "SPEC §5 identity: P(liq | C) = P(required_collateral >= C), exact on these paths")
    return ds, format_margin(ds, raw, dims, tiered=any(len(h.tiers[0]) > 1 for h in raw.hedges))


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
    from sim import engine
    from sim.config.core import ConfigError

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
        raw, levels = _grid_run(engine, base, top, paths, seed, run_kw, ConfigError)
        p = raw.outputs.liquidated.mean(axis=0)
        if all((p <= t).any() for t in resolvable):
            break
        top *= 2.0
    liq = raw.outputs.liquidated  # (n, G)
    ci = np.array([wilson_interval(float(k), n) for k in liq.sum(axis=0)])
    pv = np.array([h.size / h.entry if h.kind == 0 else h.size * h.entry for h in raw.hedges])
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


def _grid_run(engine, base, top, paths, seed, run_kw, ConfigError):
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


def format_margin(ds: xr.Dataset, raw, dims: list[str], tiered: bool) -> str:
    unit = ds.attrs.get("margin_unit", "BTC")
    lines = [f"hedgesim margin | {ds.attrs.get('config_source')} | {raw.paths:,} paths x {raw.market.steps} steps "
             f"| seed {raw.seed}", f"method: {ds.attrs['method']}"]
    if tiered:
        lines.append("tiered maintenance margin: the identity still holds exactly, because the tier depends on the "
                     "position value only, not on the collateral")
    lines.append("")
    combos = list(itertools.product(*[range(ds.sizes[d]) for d in dims])) if dims else [()]
    for combo in combos:
        sel = dict(zip(dims, combo))
        v = ds.isel(sel) if sel else ds
        if sel:
            lines.append("variant: " + ", ".join(f"{d}={v[d].values}" for d in dims))
        head = f"{'target P(liq)':>14}{'min collateral':>18}{'95 % interval':>28}{'leverage':>10}"
        lines += [head + f"   ({unit})", "-" * len(head)]
        for k, t in enumerate(v["target"].values):
            c = float(v["min_collateral"].values[k])
            if math.isnan(c):
                lines.append(f"{_pct(t):>14}   not resolvable with {raw.paths:,} paths: needs at least "
                             f"{int(v['paths_needed'].values[k]):,} (>= {MIN_EVENTS} liquidations beyond the target)")
                continue
            lo, hi = float(v["min_collateral_low"].values[k]), float(v["min_collateral_high"].values[k])
            ci = f"{lo:.6g} to {hi:.6g}" if not math.isnan(lo) else "grid point"
            lev = float(v["leverage"].values[k])
            lines.append(f"{_pct(t):>14}{c:>18.6g}{ci:>28}{lev:>9.2f}x")
        lines.append("")
        lines.append(f"{'collateral':>14}{'leverage':>10}{'P(liq)':>12}{'95 % interval':>26}   ({unit})")
        grid = v["collateral"].values
        pick = np.unique(np.linspace(0, len(grid) - 1, 9).astype(int))
        for i in pick:
            lev = v["leverage_at"].values[i] if "leverage_at" in v else np.nan
            p = float(v["liquidation_probability"].values[i])
            lev_s = f"{lev:.2f}x" if np.isfinite(lev) else "-"
            lines.append(f"{grid[i]:>14.6g}{lev_s:>10}{_pct(p):>12}"
                         f"{_pct(float(v['liquidation_probability_low'].values[i])) + ' to ' + _pct(float(v['liquidation_probability_high'].values[i])):>26}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _pct(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    return f"{100 * x:.3g} %"
