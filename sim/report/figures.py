"""The figures of ``hedgesim report`` (docs/report.md), each only when the result holds
what it needs:

- ``pnl.png``: hedged vs unhedged PnL at the horizon (one panel per report time when the
  result has a ``time`` dim), VaR 99 % and ES 99 % marked, and a tail panel: the
  probability of a loss above x on a log scale, over every path to the worst (no clipping);
- ``liquidation_curve.png``: liquidation probability against collateral (leverage on the
  top axis) with its 95 % band, the configured collateral and the minimum collateral per
  target marked; from a ``hedgesim margin`` curve, or from ``required_collateral`` of a run
  (the collateral identity, docs/model.md, via ``sim.analysis.margin``);
- ``fan_chart.png``: quantile bands of the index and the mark over the stored sample
  paths (``--save-paths``), a few of those paths, their liquidations marked;
- ``funding.png``: distribution of funding received by the short;
- ``liquidation_time.png``: when liquidations happen, and P(liquidated by t);
- ``frontier.png`` (a ``hedgesim margin --policy`` result): the reserve each on-exchange
  collateral needs, and the expected total loss of those plans;
- ``sweep.png``: ES 99 % of hedged PnL over the sweep (a heat map over the first two
  sweep dims, a line over a single one).

Every figure carries the config source, path count and horizon in its title
(``sim.report.titles``).

Per-path data are read a slice at a time, so large (distributed) stores are fine.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from sim.analysis.margin import margin_curve_of
from sim.report.titles import stamp, subtitle
from sim.results.kinds import first_variant, kind_of, sweep_dims

SLICE = 1 << 20  # paths read at a time
FIGURE_NAMES = {"pnl", "liquidation_curve", "fan_chart", "funding", "liquidation_time", "sweep", "frontier"}
HEDGED, UNHEDGED = "#1f77b4", "#ff7f0e"
DPI = 110


@dataclass
class Figure:
    name: str  # file stem
    title: str
    caption: str
    png: bytes



def _values(da: xr.DataArray) -> np.ndarray:
    """All values of a per-path DataArray (for small selections) as float64."""
    return np.asarray(da.values, dtype=np.float64)


def _slices(n: int):
    for a in range(0, n, SLICE):
        yield slice(a, min(n, a + SLICE))


def _hist(da: xr.DataArray, bins: np.ndarray) -> np.ndarray:
    """Histogram over the path dim, a slice at a time (NaN ignored)."""
    counts = np.zeros(bins.size - 1)
    for s in _slices(da.sizes["path"]):
        x = _values(da.isel(path=s))
        counts += np.histogram(x[~np.isnan(x)], bins=bins)[0]
    return counts


def _variant_label(ds: xr.Dataset) -> str:
    dims = sweep_dims(ds)
    if not dims:
        return ""
    return " (variant " + ", ".join(f"{d}={_fmt_coord(ds[d].values[0])}" for d in dims) + ")"


def _fmt_coord(x) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{x:,.0f}" if abs(x) >= 10_000 and float(x).is_integer() else f"{x:g}"
    return str(x)


def stored_config(ds: xr.Dataset) -> dict:
    """The resolved config a result holds in its attrs ({} for a file without one)."""
    try:
        return json.loads(ds.attrs.get("config", "{}"))
    except json.JSONDecodeError:
        return {}


# --------------------------------------------------------------------------- figures


def plt_setup():
    """matplotlib's pyplot on the Agg backend, with the reports' style."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": DPI, "axes.grid": True, "grid.alpha": 0.3, "axes.titlesize": 11,
                         "axes.labelsize": 10, "legend.fontsize": 8.5, "xtick.labelsize": 9, "ytick.labelsize": 9,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt_setup().close(fig)
    return buf.getvalue()


def _thousands(ax, axis="x"):
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def fig_pnl(ds: xr.Dataset) -> Figure:
    plt = plt_setup()
    summ = first_variant(ds)
    h, u = summ["hedged_pnl"], summ["unhedged_pnl"]
    times = list(ds["time"].values) if "time" in h.dims else [None]
    if len(times) > 6:  # at most six panels: evenly spread, always the horizon
        pick = sorted(set(np.linspace(0, len(times) - 1, 6).round().astype(int)))
        times = [times[i] for i in pick]
    panels = len(times) + 1  # the last: the tail at the horizon, log scale
    ncol = 2 if panels in (2, 4) else min(3, panels)
    nrow = -(-panels // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.2 * ncol if ncol > 1 else 8.5, 4.3 * nrow if nrow > 1 else 4.6),
                             squeeze=False)
    for k, t in enumerate(times):
        ax = axes.flat[k]
        sel = {} if t is None else {"time": t}
        q = summ["pnl_quantile"].sel(**sel)
        lo = float(min(q.sel(portfolio=p, quantile_level=0.001) for p in ("hedged", "unhedged")))
        hi = float(max(q.sel(portfolio=p, quantile_level=0.999) for p in ("hedged", "unhedged")))
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        bins = np.linspace(lo - pad, hi + pad, 121)
        width = bins[1] - bins[0]
        n = ds.sizes["path"]
        for da, name, color in ((h, "hedged", HEDGED), (u, "unhedged", UNHEDGED)):
            share = 100 * _hist(da.sel(**sel), bins) / n
            ax.stairs(share, bins, fill=True, alpha=0.28, color=color)
            ax.stairs(share, bins, color=color, lw=1.2, label=f"{name} PnL")
            v = float(summ["value_at_risk"].sel(portfolio=name, level=0.99, **sel))
            e = float(summ["expected_shortfall"].sel(portfolio=name, level=0.99, **sel))
            ax.axvline(-v, color=color, ls="--", lw=1.3, label=f"VaR 99 % {name}: {v:,.0f} USD")
            ax.axvline(-e, color=color, ls=":", lw=1.8, label=f"ES 99 % {name}: {e:,.0f} USD")
        ax.set_xlim(bins[0], bins[-1])
        ax.set_xlabel("PnL (USD)")
        ax.set_ylabel(f"share of paths (%) per {width:,.0f} USD")
        ax.set_ylim(0, None)
        horizon = t is None or float(t) == float(ds["time"].values[-1])
        ax.set_title("at the horizon" if t is None else
                     f"after {float(t):g} day{'' if float(t) == 1 else 's'}" + (" (horizon)" if horizon else ""))
        _thousands(ax)
        ax.legend(loc="upper right", frameon=True, framealpha=0.85, fontsize=8 if len(times) == 1 else 7.5)
    _tail_panel(axes.flat[len(times)], ds, summ)
    for ax in list(axes.flat)[panels:]:
        ax.set_visible(False)
    stamp(fig, ds, f"Hedged vs unhedged PnL{_variant_label(ds)}", fontsize=12)
    fig.tight_layout()
    return Figure("pnl", "PnL distributions", "Distribution of the portfolio PnL in USD (share of paths per bin), "
                  "hedged (stack + short perpetual + its margin account) against the same holdings unhedged, over "
                  "all paths. Dashed "
                  "lines: VaR 99 %; dotted: ES 99 % (both losses, drawn at -VaR and -ES on the PnL axis). The "
                  "0.1 % most extreme outcomes on either side lie beyond the axes of the histograms; the last panel "
                  "shows every path: the share of paths losing more than x USD at the horizon, on a log scale, down "
                  "to the single worst path." +
                  (" One panel per report time." if len(times) > 1 else ""), png_bytes(fig))


def _tail_panel(ax, ds: xr.Dataset, summ: xr.Dataset) -> None:
    """P(loss > x) at the horizon on a log scale, hedged and unhedged, over every path
    (no clipping: down to 1 path in n), VaR 99 % and ES 99 % marked."""
    n = ds.sizes["path"]
    losses = {}
    for name in ("hedged", "unhedged"):
        da = summ[f"{name}_pnl"]
        if "time" in da.dims:
            da = da.isel(time=-1)
        losses[name] = da
    lo, hi = math.inf, -math.inf
    for da in losses.values():
        for s in _slices(n):
            x = -_values(da.isel(path=s))
            x = x[np.isfinite(x)]
            if x.size:
                lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        ax.set_visible(False)
        return
    if hi <= lo:
        hi = lo + 1.0
    bins = np.linspace(lo, hi + 1e-9 * max(1.0, abs(hi)), 2001)
    left = hi
    last = {} if "time" not in summ["value_at_risk"].dims else {"time": summ["time"].values[-1]}
    for name, color in (("hedged", HEDGED), ("unhedged", UNHEDGED)):
        counts = _hist(-losses[name], bins)  # histogram of the loss (the negated PnL)
        above = counts[::-1].cumsum()[::-1] / n  # share of paths with a loss >= each left edge
        keep = above > 0
        ax.step(bins[:-1][keep], above[keep], where="post", color=color, lw=1.4, label=f"{name}")
        half = np.flatnonzero(above <= 0.5)
        left = min(left, bins[half[0]] if half.size else lo)
        v = float(summ["value_at_risk"].sel(portfolio=name, level=0.99, **last))
        e = float(summ["expected_shortfall"].sel(portfolio=name, level=0.99, **last))
        ax.axvline(v, color=color, ls="--", lw=1.1)
        ax.axvline(e, color=color, ls=":", lw=1.6)
    ax.axhline(0.01, color="0.4", lw=0.8, ls="-.", label="1 % (VaR 99 %: dashed, ES 99 %: dotted)")
    ax.set_yscale("log")
    ax.set_ylim(0.5 / n, 1.0)
    ax.set_xlim(left, hi + 0.02 * (hi - left))
    ax.set_xlabel("loss at the horizon x (USD)")
    ax.set_ylabel("share of paths losing more than x")
    ax.set_title(f"tail: every path (worst = 1 in {n:,})")
    _thousands(ax)
    ax.legend(loc="lower left", framealpha=0.85, fontsize=7.5)


def fig_liquidation_curve(curve: xr.Dataset, current: float, unit: str, note: str = "", sub: str = "") -> Figure:
    plt = plt_setup()
    dims = [d for d in curve["liquidation_probability"].dims if d != "collateral"]
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    combos = [{}] if not dims else [dict(zip(dims, idx)) for idx in np.ndindex(*[curve.sizes[d] for d in dims])][:6]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, sel in enumerate(combos):
        c = curve.isel(sel) if sel else curve
        x = c["collateral"].values
        p = c["liquidation_probability"].values
        label = ("P(liquidation)" if not sel else
                 ", ".join(f"{d}={_fmt_coord(curve[d].values[j])}" for d, j in sel.items()))
        col = colors[i % len(colors)]
        ax.fill_between(x, c["liquidation_probability_low"].values, c["liquidation_probability_high"].values,
                        color=col, alpha=0.25, lw=0, label="95 % interval" if i == 0 else None)
        ax.plot(x, p, color=col, lw=1.6, label=label)
        if "min_collateral" in c:
            for t, mc in zip(c["target"].values, c["min_collateral"].values):
                if np.isfinite(mc):
                    ax.plot([mc], [t], "o", color=col, ms=6, mec="black", zorder=5)
                    ax.annotate(f"P = {100 * t:g} % needs {mc:.4g} {unit}", (mc, t), textcoords="offset points",
                                xytext=(8, 6), fontsize=8.5)
                elif i == 0:
                    ax.annotate(f"P = {100 * t:g} %: not resolvable with {int(curve.attrs.get('paths', 0) or 0):,} "
                                "paths", (0.13, t), xycoords=("axes fraction", "data"), textcoords="offset points",
                                xytext=(0, -4), va="top", fontsize=8, color="0.3")
        if i == 0 and np.isfinite(current) and x.size:
            pc = float(np.interp(current, x, p))
            ax.plot([current], [max(pc, 1e-12)], "s", color="black", ms=6, zorder=6)
            ax.annotate(f"{100 * pc:.3g} % at {current:.4g} {unit}", (current, max(pc, 1e-12)),
                        textcoords="offset points", xytext=(9, -13), fontsize=8.5)
    if np.isfinite(current):
        ax.axvline(current, color="black", ls="--", lw=1.2, label=f"configured collateral {current:.4g} {unit}")
    if "target" in curve:
        for t in curve["target"].values:
            ax.axhline(t, color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    pmin = np.nanmin(np.where(curve["liquidation_probability"].values > 0, curve["liquidation_probability"].values,
                              np.nan)) if np.any(curve["liquidation_probability"].values > 0) else 1e-4
    ax.set_ylim(max(min(pmin, 1e-3) / 2, 1e-7), 1.2)
    ax.set_xlim(0, float(curve["collateral"].max()))
    ax.set_xlabel(f"collateral ({unit})")
    ax.set_ylabel("probability of liquidation within the horizon")
    pv = curve.attrs.get("position_value_at_entry", math.nan)
    if np.isfinite(pv) and pv > 0:
        top = ax.secondary_xaxis("top", functions=(lambda c: pv / np.maximum(c, 1e-12),
                                                   lambda lev: pv / np.maximum(lev, 1e-12)))
        top.set_xlabel("leverage (position value at entry / collateral)")
        levs = [lv for lv in (1, 1.5, 2, 3, 5, 10, 20, 50) if pv / lv <= float(curve["collateral"].max())]
        top.set_xticks(levs)
        top.set_xticklabels([f"{lv:g}x" for lv in levs])
    ax.legend(loc="upper right", framealpha=0.9)
    ax.set_title("Liquidation probability against collateral" + note + (f"\n{sub}" if sub else ""))
    fig.tight_layout()
    return Figure("liquidation_curve", "Liquidation probability vs collateral",
                  "Probability that the short is liquidated within the horizon for every collateral level, from "
                  "one simulation through the collateral identity P(liquidation | C) = P(required collateral >= C), "
                  "with its 95 % Wilson interval (shaded). The dashed line is the collateral of the config; dots "
                  "mark the minimum collateral for each target probability (dotted lines).", png_bytes(fig))


def fig_fan(ds: xr.Dataset) -> Figure:
    plt = plt_setup()
    t = ds["sample_time"].values
    idx = np.asarray(ds["sample_index"].values, dtype=float)
    mark = np.asarray(ds["sample_mark"].values, dtype=float)
    k = idx.shape[0]
    v = first_variant(ds)
    liq_t = _values(v["liquidation_time"].isel(path=slice(0, k)))
    liq_p = float(v["liquidation_price"]) if "liquidation_price" in ds else math.nan
    fig, axes = plt.subplots(2, 1, figsize=(8.5, 7.6), sharex=True)
    liq_rows = np.flatnonzero(np.isfinite(liq_t))
    # a few paths to draw: some that are liquidated (when any), the others from the start
    drawn = list(liq_rows[:2]) + [i for i in range(k) if i not in set(liq_rows[:2])]
    drawn = sorted(drawn[:min(6, k)])
    show = len(drawn)
    for ax, y, name in ((axes[0], idx, "BTC index"), (axes[1], mark, "perpetual mark")):
        qs = np.nanquantile(y, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
        ax.fill_between(t, qs[0], qs[4], color=HEDGED, alpha=0.15, lw=0, label="5 %-95 % of paths")
        ax.fill_between(t, qs[1], qs[3], color=HEDGED, alpha=0.3, lw=0, label="25 %-75 %")
        ax.plot(t, qs[2], color=HEDGED, lw=1.8, label="median")
        for j, i in enumerate(drawn):
            ax.plot(t, y[i], lw=0.8, alpha=0.85, color="0.35", label=f"{show} of the paths" if j == 0 else None)
        # marked only on the drawn paths: a cross on a path the chart does not show says nothing
        events = [(liq_t[i], np.interp(liq_t[i], t, y[i])) for i in liq_rows if i in drawn]
        if events:
            ax.plot(*zip(*events), "x", color="crimson", ms=7, mew=1.6,
                    label=f"liquidation of a drawn path ({len(events):,})")
        if name == "perpetual mark" and np.isfinite(liq_p):
            ax.axhline(liq_p, color="crimson", ls="--", lw=1, label=f"liquidation price {liq_p:,.0f} USD")
        ax.set_ylabel(f"{name} (USD)")
        ax.set_title(f"{name} over {k:,} stored paths")
        _thousands(ax, "y")
        ax.legend(loc="lower left", ncol=3, framealpha=0.85, fontsize=7.5)
    axes[1].set_xlabel("time (days)")
    n_liq = liq_rows.size
    stamp(fig, ds, f"Fan chart of index and mark{_variant_label(ds)}", fontsize=12)
    fig.tight_layout()
    return Figure("fan_chart", "Index and mark paths",
                  f"Quantile bands over the {k:,} stored sample paths (--save-paths), {show} of them drawn (liquidated "
                  f"ones first); x marks where a drawn path's hedge is liquidated ({n_liq:,} of the {k:,} stored "
                  "paths are). The dashed line is the mark that "
                  "liquidates the fresh position (funding moves it a little over time).", png_bytes(fig))


def fig_funding(ds: xr.Dataset) -> Figure | None:
    plt = plt_setup()
    v = first_variant(ds)
    unit = ds["funding"].attrs.get("units", ds.attrs.get("margin_unit", "BTC"))
    q = v["funding_quantile"]
    if float(np.nanmax(np.abs(q.values))) == 0.0 and float(v["funding_mean"]) == 0.0:
        return None  # funding switched off
    lo, hi = float(q.sel(quantile_level=0.001)), float(q.sel(quantile_level=0.999))
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        lo, hi = (lo - 1e-9, lo + 1e-9) if np.isfinite(lo) else (-1e-9, 1e-9)
    pad = 0.05 * (hi - lo)
    bins = np.linspace(lo - pad, hi + pad, 101)
    counts = _hist(v["funding"], bins)
    n = ds.sizes["path"]
    fig, ax = plt.subplots(figsize=(8.5, 4.4))
    ax.stairs(100 * counts / n, bins, fill=True, alpha=0.35, color="#2ca02c")
    ax.stairs(100 * counts / n, bins, color="#2ca02c", lw=1.2, label="funding received by the short")
    m = float(v["funding_mean"])
    ax.axvline(m, color="black", lw=1.3, label=f"mean {m:+.6f} {unit}")
    ax.axvline(0, color="grey", lw=0.8)
    for qq, ls in ((0.05, "--"), (0.95, "--")):
        x = float(q.sel(quantile_level=qq))
        ax.axvline(x, color="#2ca02c", ls=ls, lw=1, label=f"{100 * qq:g} % quantile {x:+.6f} {unit}")
    ax.set_xlabel(f"funding over the horizon ({unit}; + received, - paid)")
    ax.set_ylabel("share of paths (%)")
    ax.set_xlim(bins[0], bins[-1])
    ax.set_title(f"Funding received by the short{_variant_label(ds)}\n{subtitle(ds)}")
    ax.legend(loc="upper left", framealpha=0.9)
    fig.tight_layout()
    return Figure("funding", "Funding", f"Funding paid to (+) or by (-) the short perpetual while it is open, per "
                  f"path, in {unit}. Mean {m:+.6f} {unit}; a liquidated hedge stops collecting funding.", png_bytes(fig))


def fig_liquidation_time(ds: xr.Dataset) -> Figure | None:
    plt = plt_setup()
    v = first_variant(ds)
    horizon = float(ds.attrs.get("horizon_days", math.nan))
    if not np.isfinite(horizon):
        horizon = float(np.nanmax(_values(v["liquidation_time"])))
    bins = np.linspace(0.0, horizon, min(60, max(10, int(round(horizon))) + 1))
    counts = _hist(v["liquidation_time"], bins)
    if counts.sum() == 0:
        return None
    n = ds.sizes["path"]
    fig, ax = plt.subplots(figsize=(8.5, 4.4))
    ax.stairs(100 * counts / n, bins, fill=True, alpha=0.35, color="crimson")
    w = bins[1] - bins[0]
    ax.stairs(100 * counts / n, bins, color="crimson", lw=1.2,
              label="liquidations per day" if abs(w - 1) < 1e-9 else f"liquidations per {w:.3g} days")
    ax.set_xlabel("time of liquidation (days)")
    ax.set_ylabel("share of all paths (%)")
    ax2 = ax.twinx()
    ax2.spines["right"].set_visible(True)
    cum = 100 * np.cumsum(counts) / n
    # exact at every bin edge (0 at t = 0, the total at the horizon), straight in between
    ax2.plot(bins, np.r_[0.0, cum], color="black", lw=1.5, label="P(liquidated by t)")
    ax2.set_ylabel("P(liquidated by t) (%)")
    ax2.set_ylim(0, max(cum[-1] * 1.15, 1e-3))
    ax2.grid(False)
    p = float(v["liquidation_probability"])
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left", framealpha=0.9)
    ax.set_xlim(0, horizon)
    ax.set_title(f"When the hedge is liquidated: {100 * p:.3g} % of paths within {horizon:g} days"
                 f"{_variant_label(ds)}\n{subtitle(ds)}")
    fig.tight_layout()
    return Figure("liquidation_time", "Time to liquidation",
                  "Histogram of liquidation times (share of all paths per bin) and the cumulative probability "
                  "that the hedge has been liquidated by each time.", png_bytes(fig))


def fig_sweep(ds: xr.Dataset) -> Figure | None:
    """Every variant of a sweep (all slices, one row each): its liquidation probability and
    the ES 99 % of its hedged PnL at the horizon, with 95 % intervals."""
    plt = plt_setup()
    dims = sweep_dims(ds)
    if not dims:
        return None
    es = ds["expected_shortfall"].sel(portfolio="hedged", level=0.99)
    ese = ds["expected_shortfall_se"].sel(portfolio="hedged", level=0.99)
    if "time" in es.dims:
        es, ese = es.isel(time=-1), ese.isel(time=-1)
    p, plo, phi = (ds[k].transpose(*dims).values.ravel() for k in
                   ("liquidation_probability", "liquidation_probability_low", "liquidation_probability_high"))
    es_v, ese_v = es.transpose(*dims).values.ravel(), ese.transpose(*dims).values.ravel()
    grids = np.meshgrid(*[ds[d].values for d in dims], indexing="ij")
    labels = [", ".join(f"{d}={_fmt_coord(g.ravel()[k])}" for d, g in zip(dims, grids)) for k in range(p.size)]
    y = np.arange(p.size)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, min(max(0.32 * p.size + 1.8, 3.8), 40)), sharey=True)
    a1.errorbar(100 * p, y, xerr=[100 * np.clip(p - plo, 0, None), 100 * np.clip(phi - p, 0, None)], fmt="o",
                color="#d62728", capsize=3)
    a1.set_xlabel("liquidation probability (%)")
    a2.errorbar(es_v, y, xerr=1.96 * ese_v, fmt="o", color=HEDGED, capsize=3)
    a2.set_xlabel("ES 99 % of hedged PnL (USD, loss)")
    _thousands(a2, "x")
    a1.set_yticks(y, labels, fontsize=8)
    a1.invert_yaxis()
    fig.suptitle(f"Every variant of the sweep over {' x '.join(d.replace('_', ' ') for d in dims)}\n{subtitle(ds)}",
                 fontsize=10)
    fig.tight_layout()
    return Figure("sweep", "Sweep", "Each hedge variant of the sweep (every combination of the swept values), all "
                  "evaluated on the same market paths: the probability that its hedge is liquidated within the horizon "
                  "and the expected shortfall at 99 % of its hedged PnL at the horizon (USD, a loss), with 95 % "
                  "intervals.", png_bytes(fig))


def fig_frontier(ds: xr.Dataset) -> Figure:
    """``hedgesim margin --policy``: the reserve each on-exchange collateral needs to keep
    P(losing the hedge) at the target, and the expected total loss of those plans, the
    static plan and the best plan marked."""
    plt = plt_setup()
    a = ds.attrs
    unit = a.get("margin_unit", "BTC")
    c = ds["collateral"].values
    r = ds["min_reserve"].values
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.0))
    ok = np.isfinite(r)
    ax1.plot(c[ok], r[ok], "o-", color=HEDGED, label="reserve needed")
    ax1.plot(c[ok], c[ok] + r[ok], "s--", color=UNHEDGED, label="on exchange + reserve")
    ax1.axvline(a["static_min_collateral"], color="grey", ls=":", label="static minimum (no policy)")
    ax1.set_xlabel(f"collateral on the exchange ({unit})")
    ax1.set_ylabel(unit)
    ax1.set_title(f"P(losing the hedge) <= {100 * a['target']:g} %, transfer delay {a.get('transfer_delay')}")
    ax1.legend()
    loss = np.full(c.size, np.nan)
    for j in np.nonzero(ok)[0]:
        t = float(ds["min_reserve_trigger"].values[j])
        f = int(np.abs(ds["trigger"].values[j] - t).argmin())
        loss[j] = float(ds["expected_total_loss"].isel(collateral=j, trigger_fraction=f).sel(reserve=r[j]))
    ax2.plot(c[ok], loss[ok], "o-", color=HEDGED, label="frontier plans")
    if "best_collateral" in a:
        ax2.plot([a["best_collateral"]], [a["best_expected_total_loss"]], "*", ms=14, color="#2ca02c",
                 label=f"least loss: {a['best_collateral']:.4g} + {a['best_reserve']:.4g} {unit} in reserve")
    ax2.axhline(a["static_expected_total_loss"], color="grey", ls=":", label="static plan")
    ax2.set_xlabel(f"collateral on the exchange ({unit})")
    ax2.set_ylabel("expected total loss (USD)")
    ax2.set_title(f"exchange default {a.get('default_rate', 0):g}/yr, {100 * a.get('recovery_rate', 0):g} % recovered")
    ax2.legend()
    stamp(fig, ds)
    return Figure("frontier", "How much on the exchange, how much in reserve",
                  "Left: the smallest reserve that keeps the probability of losing the hedge at the target, for each "
                  "collateral kept on the exchange (none on the grid: not drawn). Right: the expected total loss "
                  "(equity forfeited at liquidations plus what an exchange default takes) of those plans.",
                  png_bytes(fig))


def _unit_of(ds: xr.Dataset, dim: str) -> str:
    if dim == "collateral":
        return f" ({ds.attrs.get('margin_unit', 'BTC')})"
    u = ds[dim].attrs.get("units")
    return f" ({u})" if u else ""


def figures(ds: xr.Dataset) -> tuple[list[Figure], list[str]]:
    """Every figure the result calls for, and notes on those left out."""
    figs: list[Figure] = []
    notes: list[str] = []
    kind = kind_of(ds)
    unit = ds.attrs.get("margin_unit", "BTC")
    cfg = stored_config(ds)
    if kind == "frontier":
        return [fig_frontier(ds)], notes
    if kind == "margin":
        c = cfg.get("position", {}).get("collateral")
        current = math.nan if c is None else float(c)
        figs.append(fig_liquidation_curve(ds, current, unit, sub=subtitle(ds)))
        return figs, notes
    figs.append(fig_pnl(ds))
    if "reserve_used" in ds:
        notes.append("liquidation curve: not drawn (a managed hedge: the collateral identity does not hold; use "
                     "hedgesim margin --policy)")
    elif "required_collateral" in ds and not cfg.get("position", {}).get("hedge_collateral", False):
        curve, step = margin_curve_of(ds)
        note = "" if step == 1 else f" (from every {step}-th path: {curve.attrs['paths']:,} of {ds.sizes['path']:,})"
        v = first_variant(ds)
        figs.append(fig_liquidation_curve(curve, float(v["collateral_posted"]), unit, note + _variant_label(ds),
                                          sub=subtitle(ds)))
    else:
        notes.append("liquidation curve: not drawn (hedge_collateral = true: use hedgesim margin, which evaluates "
                     "a collateral grid directly)")
    if "sample_index" in ds and "sample_mark" in ds:
        figs.append(fig_fan(ds))
    else:
        notes.append("fan chart: no sample paths stored (run with --save-paths K)")
    fu = fig_funding(ds)
    if fu is not None:
        figs.append(fu)
    else:
        notes.append("funding: zero on every path (funding switched off in the config)")
    lt = fig_liquidation_time(ds)
    if lt is not None:
        figs.append(lt)
    else:
        notes.append("time to liquidation: no path was liquidated")
    sw = fig_sweep(ds)
    if sw is not None:
        figs.append(sw)
    return figs, notes
