"""The printed summary of a result Dataset: plain-text tables, every number with units."""

from __future__ import annotations

import itertools
import math

import numpy as np
import xarray as xr


def _num(x: float, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.{digits}f}"


def _prob(x: float) -> str:
    """Probabilities: percent with enough digits to show small values."""
    if math.isnan(x):
        return "n/a"
    if x == 0:
        return "0 %"
    if x < 1e-3:
        return f"{100 * x:.4f} %"
    return f"{100 * x:.2f} %"


def _at_T(da: xr.DataArray) -> xr.DataArray:
    return da.isel(time=-1) if "time" in da.dims else da


def _sweep_dims(ds: xr.Dataset) -> list[str]:
    return [d for d in ds["liquidated"].dims if d != "path"]


def format_summary(ds: xr.Dataset) -> str:
    a = ds.attrs
    lines = [f"hedgesim {a.get('hedgesim_version', '')} | {a.get('config_source', '')} | model {a.get('model')} | "
             f"{a.get('paths', 0):,} paths x {a.get('steps', 0):,} steps of {a.get('dt')} "
             f"= {a.get('horizon')} | seed {a.get('seed')}"]
    if a.get("stress"):
        lines.append(f"stress scenario: {a['stress']}")
    if a.get("replay"):
        lines.append(f"replay of {a['replay']}")
    dims = _sweep_dims(ds)
    if dims:
        lines += _variant_table(ds, dims)
    else:
        lines += _single(ds)
    if "time" in ds.dims and ds.sizes["time"] > 1:
        lines += _time_table(ds, dims)
    lines.append("")
    wall = a.get("wall_time_s", math.nan)
    pss = a.get("path_steps_per_second", math.nan)
    v = a.get("variants", 1)
    lines.append(f"wall time {wall:.2f} s, {pss / 1e6:.1f} M path-steps/s on {a.get('threads')} threads"
                 + (f" ({v} hedge variants per path)" if v > 1 else ""))
    return "\n".join(lines)


def _single(ds: xr.Dataset) -> list[str]:
    a = ds.attrs
    unit = a.get("margin_unit", "BTC")
    size_unit = a.get("hedge_size_units", "USD")
    lines = [f"hedge: short {_num(float(ds['hedge_size']), 6 if size_unit == 'BTC' else 0)} {size_unit} "
             f"{a.get('contract')} ({int(ds['contracts']):,} contracts), entry {_num(a.get('entry_price'))} USD, "
             f"collateral {_num(float(ds['collateral_posted']), 4)} {unit} "
             f"(leverage {float(ds['leverage']):.2f}x)", ""]
    lp = float(ds["liquidation_price"])
    entry = float(a.get("entry_price", math.nan))
    rows: list[tuple[str, str]] = []
    if math.isnan(lp):
        rows.append(("liquidation price", "none (at or below 1x, never liquidated)"))
    else:
        rows.append(("liquidation price", f"{_num(lp)} USD ({lp / entry - 1:+.2%} from entry)"))
    p = float(ds["liquidation_probability"])
    rows.append(("liquidation probability", f"{_prob(p)}  (95 % CI {_prob(float(ds['liquidation_probability_low']))}"
                 f" to {_prob(float(ds['liquidation_probability_high']))})"))
    if "effective_sample_size" in ds:
        rows.append(("importance sampling", f"tilt {a.get('importance_tilt', math.nan):.3g} sigma sqrt(T) over the "
                     f"horizon, effective sample size {float(ds['effective_sample_size']):,.0f} paths of "
                     f"{a.get('paths', 0):,} (every figure is weighted by the likelihood ratio)"))
    if p > 0:
        q = ds["liquidation_time_quantile"]
        rows.append(("time to liquidation (if liquidated)",
                     f"median {float(q.sel(quantile=0.5)):.1f} days, 5 %-95 % "
                     f"{float(q.sel(quantile=0.05)):.1f}-{float(q.sel(quantile=0.95)):.1f} days"))
    he = float(_at_T(ds["hedge_effectiveness"]))
    he_se = float(_at_T(ds["hedge_effectiveness_se"])) if "hedge_effectiveness_se" in ds else math.nan
    he_se_s = f"{he_se:.4f}" if not he_se < 1e-4 else f"{he_se:.1e}"  # large runs: keep a digit
    rows.append(("hedge effectiveness", f"{he:.4f} +- {he_se_s}  (1 - Var hedged / Var unhedged)"))
    fm, fse, fu = float(ds["funding_mean"]), float(ds["funding_mean_se"]), float(ds["funding_usd_mean"])
    fq = ds["funding_quantile"]
    rows.append(("expected funding (+ received)", f"{fm:+.6f} {unit} +- {fse:.6f}  ({_num(fu)} USD); "
                 f"5 %-95 % {float(fq.sel(quantile=0.05)):+.6f} to {float(fq.sel(quantile=0.95)):+.6f} {unit}"))
    rows.append(("expected fees", f"{float(ds['fees_mean']):.6f} {unit}"))
    dq = ds["max_drawdown_quantile"]
    rows.append(("max drawdown, hedged", f"mean {_num(float(ds['max_drawdown_mean']))} USD, 99 % quantile "
                 f"{_num(float(dq.sel(quantile=0.99)))} USD"))
    if "shortfall_probability" in ds:
        rows.append((f"P(hedged value < {_num(a['value_threshold_usd'])} USD)",
                     f"{_prob(float(ds['shortfall_probability']))}  (95 % CI "
                     f"{_prob(float(ds['shortfall_probability_low']))} to "
                     f"{_prob(float(ds['shortfall_probability_high']))})"))
    w = max(len(r[0]) for r in rows)
    lines += [f"{k:<{w}}  {v}" for k, v in rows]
    lines.append("")
    head = f"{'PnL at horizon (USD)':<24}{'hedged':>18}{'unhedged':>18}"
    lines += [head, "-" * len(head)]

    def row(label, var, **sel):
        da = _at_T(ds[var])
        h = float(da.sel(portfolio="hedged", **sel))
        u = float(da.sel(portfolio="unhedged", **sel))
        lines.append(f"{label:<24}{_num(h):>18}{_num(u):>18}")

    row("mean", "pnl_mean")
    row("  +- se", "pnl_mean_se")
    row("std", "pnl_std")
    for lev in ds["level"].values:
        row(f"VaR {100 * lev:g} %", "var", level=lev)
    for lev in ds["level"].values:
        row(f"ES {100 * lev:g} %", "es", level=lev)
    for lev in ds["level"].values:
        row(f"  +- se ES {100 * lev:g} %", "es_se", level=lev)
    row("median", "pnl_quantile", quantile=0.5)
    d = _at_T(ds["es_hedged_minus_unhedged"]).sel(level=0.99)
    dse = _at_T(ds["es_hedged_minus_unhedged_se"]).sel(level=0.99)
    lines.append("(VaR and ES are losses: positive = loss)")
    lines.append(f"ES 99 % hedged - unhedged: {_num(float(d))} USD +- {_num(float(dse))} (paired SE, same paths)")
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
        ci = f"{_prob(float(v['liquidation_probability_low']))}-{_prob(float(v['liquidation_probability_high']))}"
        dp = f"{100 * float(v['liquidation_probability_vs_base']):+.2f} +- {100 * float(v['liquidation_probability_vs_base_se']):.2f} %"
        es = float(_at_T(v["es"]).sel(portfolio="hedged", level=0.99))
        de = _at_T(v["es_hedged_vs_base"]).sel(level=0.99)
        dse = _at_T(v["es_hedged_vs_base_se"]).sel(level=0.99)
        mean = float(_at_T(v["pnl_mean"]).sel(portfolio="hedged"))
        lp = float(v["liquidation_price"])
        lp_s = "none" if math.isnan(lp) else _num(lp)
        lines.append(f"{label:<{w}}{_prob(p):>11}{ci:>20}{dp:>19}{_num(es):>16}"
                     f"{_num(float(de)) + ' +- ' + _num(float(dse)):>24}{_num(mean):>12}{lp_s:>17}")
    lines.append(f"(margin currency: {unit}; ES is a loss: positive = loss)")
    return lines


def _coord(x) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{x:g}"
    return str(x)


def _time_table(ds: xr.Dataset, dims: list[str]) -> list[str]:
    lines = ["", "PnL by report time (USD; VaR/ES are losses)" + (" -- first variant" if dims else "")]
    v = ds.isel({d: 0 for d in dims}) if dims else ds
    head = f"{'time (days)':>12}{'VaR 99 % hedged':>18}{'ES 99 % hedged':>17}{'VaR 99 % unhedged':>19}{'ES 99 % unhedged':>18}"
    lines += [head, "-" * len(head)]
    for k, t in enumerate(ds["time"].values):
        x = v.isel(time=k).sel(level=0.99)
        lines.append(f"{t:>12g}{_num(float(x['var'].sel(portfolio='hedged'))):>18}"
                     f"{_num(float(x['es'].sel(portfolio='hedged'))):>17}"
                     f"{_num(float(x['var'].sel(portfolio='unhedged'))):>19}"
                     f"{_num(float(x['es'].sel(portfolio='unhedged'))):>18}")
    return lines
