"""The printed tables of a result Dataset, every number with units: the summary of a run
(``format_summary``), the margin curve (``format_margin``, docs/margin.md), the stress table
(``format_stress``, docs/stress.md), and ``format_result`` for whichever a file holds
(replays and backtests: ``sim.report.text_data``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import xarray as xr

from sim.analysis.margin import MIN_EVENTS
from sim.report.fmt import fmt_fixed, fmt_number, fmt_percent, fmt_probability
from sim.report.header import override_lines
from sim.report.text_band import format_band, format_margin_band
from sim.report.text_policy import format_frontier, policy_rows
from sim.report.text_data import format_backtest, format_replay
from sim.results.kinds import at_horizon, first_variant, kind_of, sweep_dims


def format_result(ds: xr.Dataset) -> str:
    """The right table for any result hedgesim writes (run, margin curve, stress table,
    replay, backtest); xarray's own listing for the others."""
    kind = kind_of(ds)
    if kind == "run":
        return format_summary(ds)
    if kind == "margin":
        return format_margin(ds)
    if kind == "stress":
        return format_stress(ds)
    if kind == "replay":
        return format_replay(ds)
    if kind == "backtest":
        return format_backtest(ds)
    if kind == "frontier":
        return format_frontier(ds)
    return str(ds)


def format_summary(ds: xr.Dataset) -> str:
    a = ds.attrs
    lines = [f"hedgesim {a.get('hedgesim_version', '')} | {a.get('config_source', '')} | model {a.get('model')} | "
             f"{a.get('paths', 0):,} paths x {a.get('steps', 0):,} steps of {a.get('dt')} "
             f"= {a.get('horizon')} | seed {a.get('seed')}"]
    lines += override_lines(a)
    if a.get("history"):
        lines.append(f"history resampled: {a['history']}")
    if a.get("stress"):
        lines.append(f"stress scenario: {a['stress']}")
    if a.get("replay"):
        lines.append(f"replay of {a['replay']}")
    dims = sweep_dims(ds)
    if dims:
        lines += _variant_table(ds, dims)
    else:
        lines += _single(ds) + format_band(ds)
    if "time" in ds.dims and ds.sizes["time"] > 1:
        lines += _time_table(ds, dims)
    lines.append("")
    wall = a.get("wall_time_s", math.nan)
    pss = a.get("path_steps_per_second", math.nan)
    v = a.get("variants", 1)
    threads = a.get("threads")
    lines.append(f"wall time {wall:.2f} s, {pss / 1e6:.1f} M path-steps/s on {threads} thread{'' if threads == 1 else 's'}"
                 + (f" ({v} hedge variants per path)" if v > 1 else ""))
    return "\n".join(lines)


def _single(ds: xr.Dataset) -> list[str]:
    a = ds.attrs
    unit = a.get("margin_unit", "BTC")
    size_unit = a.get("hedge_size_units", "USD")
    lines = [f"hedge: short {fmt_number(float(ds['hedge_size']), 6 if size_unit == 'BTC' else 0)} {size_unit} "
             f"{a.get('contract')} ({int(ds['contracts']):,} contracts), entry {fmt_number(a.get('entry_price'))} USD, "
             f"collateral {fmt_number(float(ds['collateral_posted']), 4)} {unit} "
             f"(leverage {float(ds['leverage']):.2f}x)", ""]
    lp = float(ds["liquidation_price"])
    entry = float(a.get("entry_price", math.nan))
    rows: list[tuple[str, str]] = []
    if math.isnan(lp):
        rows.append(("liquidation price", "none (at or below 1x, never liquidated)"))
    else:
        rows.append(("liquidation price", f"{fmt_number(lp)} USD ({lp / entry - 1:+.2%} from entry)"))
    p = float(ds["liquidation_probability"])
    lo, hi = float(ds["liquidation_probability_low"]), float(ds["liquidation_probability_high"])
    rows.append(("liquidation probability",
                 f"{fmt_probability(p)}  (95 % CI {fmt_probability(lo)} to {fmt_probability(hi)})"))
    if "effective_sample_size" in ds:
        rows.append(("importance sampling", f"tilt {a.get('importance_tilt', math.nan):.3g} sigma sqrt(T) over the "
                     f"horizon, effective sample size {float(ds['effective_sample_size']):,.0f} paths of "
                     f"{a.get('paths', 0):,} (every figure is weighted by the likelihood ratio)"))
    if p > 0:
        q = ds["liquidation_time_quantile"]
        rows.append(("time to liquidation (if liquidated)",
                     f"median {float(q.sel(quantile_level=0.5)):.1f} days, 5 %-95 % "
                     f"{float(q.sel(quantile_level=0.05)):.1f}-{float(q.sel(quantile_level=0.95)):.1f} days"))
    he = float(at_horizon(ds["hedge_effectiveness"]))
    he_se = float(at_horizon(ds["hedge_effectiveness_se"])) if "hedge_effectiveness_se" in ds else math.nan
    he_se_s = fmt_fixed(he_se, ".4f" if not he_se < 1e-4 else ".1e")  # large runs: keep a digit
    rows.append(("hedge effectiveness", f"{fmt_fixed(he, '.4f')} +- {he_se_s}  (1 - Var hedged / Var unhedged)"))
    fm, fse, fu = float(ds["funding_mean"]), float(ds["funding_mean_se"]), float(ds["funding_usd_mean"])
    fq = ds["funding_quantile"]
    rows.append(("expected funding (+ received)", f"{fmt_fixed(fm, '+.6f')} {unit} +- {fmt_fixed(fse, '.6f')}  "
                 f"({fmt_number(fu)} USD); 5 %-95 % {float(fq.sel(quantile_level=0.05)):+.6f} to {float(fq.sel(quantile_level=0.95)):+.6f} {unit}"))
    rows.append(("expected fees", f"{float(ds['fees_mean']):.6f} {unit}"))
    dq = ds["max_drawdown_quantile"]
    rows.append(("max drawdown, hedged", f"mean {fmt_number(float(ds['max_drawdown_mean']))} USD, 99 % quantile "
                 f"{fmt_number(float(dq.sel(quantile_level=0.99)))} USD"))
    if "shortfall_probability" in ds:
        rows.append((f"P(hedged value < {fmt_number(a['value_threshold_usd'])} USD)",
                     f"{fmt_probability(float(ds['shortfall_probability']))}  (95 % CI "
                     f"{fmt_probability(float(ds['shortfall_probability_low']))} to "
                     f"{fmt_probability(float(ds['shortfall_probability_high']))})"))
    rows += policy_rows(ds)
    w = max(len(r[0]) for r in rows)
    lines += [f"{k:<{w}}  {v}" for k, v in rows]
    lines.append("")
    head = f"{'PnL at horizon (USD)':<24}{'hedged':>18}{'unhedged':>18}"
    lines += [head, "-" * len(head)]

    def row(label, var, **sel):
        da = at_horizon(ds[var])
        h = float(da.sel(portfolio="hedged", **sel))
        u = float(da.sel(portfolio="unhedged", **sel))
        lines.append(f"{label:<24}{fmt_number(h):>18}{fmt_number(u):>18}")

    row("mean", "pnl_mean")
    row("  +- se", "pnl_mean_se")
    row("std", "pnl_std")
    for lev in ds["level"].values:
        row(f"VaR {100 * lev:g} %", "value_at_risk", level=lev)
    for lev in ds["level"].values:
        row(f"ES {100 * lev:g} %", "expected_shortfall", level=lev)
    for lev in ds["level"].values:
        row(f"  +- se ES {100 * lev:g} %", "expected_shortfall_se", level=lev)
    row("median", "pnl_quantile", quantile_level=0.5)
    d = at_horizon(ds["es_hedged_minus_unhedged"]).sel(level=0.99)
    dse = at_horizon(ds["es_hedged_minus_unhedged_se"]).sel(level=0.99)
    lines.append("(VaR and ES are losses: positive = loss)")
    lines.append(f"ES 99 % hedged - unhedged: {fmt_number(float(d))} USD +- {fmt_number(float(dse))} "
                 "(paired SE, same paths)")
    return lines


def _variant_table(ds: xr.Dataset, dims: list[str]) -> list[str]:
    unit = ds.attrs.get("margin_unit", "")
    lines = [f"sweep over {', '.join(dims)} on common random numbers; differences are against the first "
             "variant, with paired standard errors", ""]
    combos = list(itertools.product(*[range(ds.sizes[d]) for d in dims]))
    labels = [", ".join(f"{d}={_coord(ds[d].values[i])}" for d, i in zip(dims, combo)) for combo in combos]
    w = max(len("variant"), *(len(x) for x in labels)) + 2
    head = (f"{'variant':<{w}}{'liq. prob.':>11}{'95 % CI':>20}{'vs first':>19}{'ES 99 % hedged':>16}"
            f"{'vs first':>24}{'mean PnL':>12}{'liq. price':>17}")
    lines += [head + "   (USD unless noted)", "-" * len(head)]
    for combo, label in zip(combos, labels):
        v = ds.isel(dict(zip(dims, combo)))
        p = float(v["liquidation_probability"])
        ci = (f"{fmt_probability(float(v['liquidation_probability_low']))}-"
              f"{fmt_probability(float(v['liquidation_probability_high']))}")
        dp = f"{100 * float(v['liquidation_probability_vs_base']):+.2f} +- {100 * float(v['liquidation_probability_vs_base_se']):.2f} %"
        es = float(at_horizon(v["expected_shortfall"]).sel(portfolio="hedged", level=0.99))
        de = at_horizon(v["es_hedged_vs_base"]).sel(level=0.99)
        dse = at_horizon(v["es_hedged_vs_base_se"]).sel(level=0.99)
        mean = float(at_horizon(v["pnl_mean"]).sel(portfolio="hedged"))
        lp = float(v["liquidation_price"])
        lp_s = "none" if math.isnan(lp) else fmt_number(lp)
        lines.append(f"{label:<{w}}{fmt_probability(p):>11}{ci:>20}{dp:>19}{fmt_number(es):>16}"
                     f"{fmt_number(float(de)) + ' +- ' + fmt_number(float(dse)):>24}{fmt_number(mean):>12}{lp_s:>17}")
    lines.append(f"(margin currency: {unit}; ES is a loss: positive = loss)")
    return lines


def _coord(x) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{x:g}"
    return str(x)


def _time_table(ds: xr.Dataset, dims: list[str]) -> list[str]:
    lines = ["", "PnL by report time (USD; VaR/ES are losses)" + (" -- first variant" if dims else "")]
    v = first_variant(ds)
    head = f"{'time (days)':>12}{'VaR 99 % hedged':>18}{'ES 99 % hedged':>17}{'VaR 99 % unhedged':>19}{'ES 99 % unhedged':>18}"
    lines += [head, "-" * len(head)]
    for k, t in enumerate(ds["time"].values):
        x = v.isel(time=k).sel(level=0.99)
        lines.append(f"{t:>12g}{fmt_number(float(x['value_at_risk'].sel(portfolio='hedged'))):>18}"
                     f"{fmt_number(float(x['expected_shortfall'].sel(portfolio='hedged'))):>17}"
                     f"{fmt_number(float(x['value_at_risk'].sel(portfolio='unhedged'))):>19}"
                     f"{fmt_number(float(x['expected_shortfall'].sel(portfolio='unhedged'))):>18}")
    return lines


def format_margin(ds: xr.Dataset, tiered: bool = False) -> str:
    """The minimum collateral per target and the curve at nine levels, for every hedge
    variant; ``tiered``: the run had a tiered maintenance margin (one line says the
    identity still holds)."""
    a = ds.attrs
    unit = a.get("margin_unit", "BTC")
    paths = int(a.get("paths", 0))
    lines = [f"hedgesim margin | {a.get('config_source')} | {paths:,} paths x {int(a.get('steps', 0))} steps "
             f"| seed {a.get('seed')}", *override_lines(a), f"method: {a['method']}"]
    if tiered:
        lines.append("tiered maintenance margin: the identity still holds exactly, because the tier depends on the "
                     "position value only, not on the collateral")
    lines.append("")
    dims = [d for d in ds["min_collateral"].dims if d != "target"]
    combos = list(itertools.product(*[range(ds.sizes[d]) for d in dims])) if dims else [()]
    for combo in combos:
        sel = dict(zip(dims, combo))
        v = ds.isel(sel) if sel else ds
        if sel:
            lines.append("variant: " + ", ".join(f"{d}={v[d].values}" for d in dims))
        lines += _margin_targets(v, unit, paths) + [""] + _margin_curve(v, unit) + [""]
    lines += format_margin_band(ds)
    return "\n".join(lines).rstrip()


def _margin_targets(v: xr.Dataset, unit: str, paths: int) -> list[str]:
    head = f"{'target P(liq)':>14}{'min collateral':>18}{'95 % interval':>28}{'leverage':>10}"
    lines = [head + f"   ({unit})", "-" * len(head)]
    for k, t in enumerate(v["target"].values):
        c = float(v["min_collateral"].values[k])
        if math.isnan(c):
            lines.append(f"{fmt_percent(t):>14}   not resolvable with {paths:,} paths: needs at least "
                         f"{int(v['paths_needed'].values[k]):,} (>= {MIN_EVENTS} liquidations beyond the target)")
            continue
        lo, hi = float(v["min_collateral_low"].values[k]), float(v["min_collateral_high"].values[k])
        ci = f"{lo:.6g} to {hi:.6g}" if not math.isnan(lo) else "grid point"
        lev = float(v["leverage"].values[k])
        lines.append(f"{fmt_percent(t):>14}{c:>18.6g}{ci:>28}{lev:>9.2f}x")
    return lines


def _margin_curve(v: xr.Dataset, unit: str) -> list[str]:
    lines = [f"{'collateral':>14}{'leverage':>10}{'P(liq)':>12}{'95 % interval':>26}   ({unit})"]
    grid = v["collateral"].values
    for i in np.unique(np.linspace(0, len(grid) - 1, 9).astype(int)):
        lev = v["leverage_at"].values[i] if "leverage_at" in v else np.nan
        p = float(v["liquidation_probability"].values[i])
        lev_s = f"{lev:.2f}x" if np.isfinite(lev) else "-"
        ci = (f"{fmt_percent(float(v['liquidation_probability_low'].values[i]))} to "
              f"{fmt_percent(float(v['liquidation_probability_high'].values[i]))}")
        lines.append(f"{grid[i]:>14.6g}{lev_s:>10}{fmt_percent(p):>12}{ci:>26}")
    return lines


def format_stress(ds: xr.Dataset) -> str:
    """One row per [[stress]] scenario against the baseline (docs/stress.md)."""
    a = ds.attrs
    lines = [f"hedgesim stress | {a.get('config_source')} | {a.get('paths'):,} paths, horizon {a.get('horizon')} | "
             f"seed {a.get('seed')} (same random numbers in every scenario)", *override_lines(a), ""]
    labels = [str(name) + (" (replay)" if str(t) == "replay" else "")
              for name, t in zip(ds["scenario"].values, ds["type"].values)]
    w = max(len("scenario"), *(len(x) for x in labels)) + 2
    head = (f"{'scenario':<{w}}{'P(liq)':>10}{'vs baseline':>20}{'ES 99 % hedged':>16}{'vs baseline':>22}"
            f"{'median hedged':>15}{'median unhedged':>17}")
    lines += [head + "   (PnL in USD)", "-" * len(head)]
    for i, label in enumerate(labels):
        r = ds.isel(scenario=i)
        dp = float(r["liquidation_probability_vs_baseline"])
        dps = float(r["liquidation_probability_vs_baseline_se"])
        de = float(r["es99_hedged_vs_baseline"])
        des = float(r["es99_hedged_vs_baseline_se"])
        dp_s = "" if i == 0 or math.isnan(dp) else f"{100 * dp:+.2f} +- {100 * dps:.2f} %"
        de_s = "" if i == 0 or math.isnan(de) else f"{fmt_number(de)} +- {fmt_number(des)}"
        lines.append(f"{label:<{w}}{fmt_probability(float(r['liquidation_probability'])):>10}{dp_s:>20}"
                     f"{fmt_number(float(r['es99_hedged'])):>16}{de_s:>22}"
                     f"{fmt_number(float(r['median_hedged_pnl'])):>15}"
                     f"{fmt_number(float(r['median_unhedged_pnl'])):>17}")
    lines.append("(ES is a loss: positive = loss; a replay is one deterministic path, so its 'ES' is its loss)")
    return "\n".join(lines)


def format_convergence(ds: xr.Dataset) -> str:
    lines = ["", "convergence (first variant; horizon)",
             f"{'paths':>12}{'P(liq)':>12}{'95 % interval':>26}{'ES 99 % hedged (USD)':>24}{'+- se':>12}"]
    for i, m in enumerate(ds["n_paths"].values):
        p = float(ds["running_liquidation_probability"][i])
        lo = float(ds["running_liquidation_probability_low"][i])
        hi = float(ds["running_liquidation_probability_high"][i])
        e = float(ds["running_es99_hedged"][i])
        es = float(ds["running_es99_hedged_se"][i])
        lines.append(f"{m:>12,}{100 * p:>11.4f}%{f'{100 * lo:.4f}% to {100 * hi:.4f}%':>26}"
                     f"{fmt_fixed(e, ',.2f'):>24}{fmt_fixed(es, ',.2f'):>12}")
    return "\n".join(lines)
