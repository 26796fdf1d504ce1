"""The printed summary of a result Dataset: a plain-text table, every number with units."""

from __future__ import annotations

import math

import xarray as xr


def _num(x: float, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.{digits}f}"


def _pct(x: float, digits: int = 2) -> str:
    if math.isnan(x):
        return "n/a"
    return f"{100 * x:.{digits}f} %"


def _prob(x: float) -> str:
    """Probabilities: percent with enough digits to show small values."""
    if math.isnan(x):
        return "n/a"
    if x == 0:
        return "0 %"
    if x < 1e-3:
        return f"{100 * x:.4f} %"
    return f"{100 * x:.2f} %"


def format_summary(ds: xr.Dataset) -> str:
    a = ds.attrs
    unit = a.get("margin_unit", "BTC")
    size_unit = a.get("hedge_size_units", "USD")
    lines = []
    lines.append(f"hedgesim {a.get('hedgesim_version', '')} | {a.get('config_source', '')} | model {a.get('model')} | "
                 f"{a.get('paths', 0):,} paths x {a.get('steps', 0):,} steps of {a.get('dt')} "
                 f"= {a.get('horizon')} | seed {a.get('seed')}")
    lines.append(f"hedge: short {_num(a.get('hedge_size', math.nan), 6 if size_unit == 'BTC' else 0)} {size_unit} "
                 f"{a.get('contract')} ({a.get('contracts', 0):,} contracts), entry {_num(a.get('entry_price'))} USD, "
                 f"collateral {_num(a.get('collateral'), 4)} {unit}")
    lines.append("")
    lp = float(ds["liquidation_price"])
    entry = float(a.get("entry_price", math.nan))
    rows: list[tuple[str, str]] = []
    if math.isnan(lp):
        rows.append(("liquidation price", "none (at or below 1x, never liquidated)"))
    else:
        rows.append(("liquidation price", f"{_num(lp)} USD ({lp / entry - 1:+.2%} from entry)"))
    p = float(ds["liquidation_probability"])
    lo = float(ds["liquidation_probability_low"])
    hi = float(ds["liquidation_probability_high"])
    rows.append(("liquidation probability", f"{_prob(p)}  (95 % CI {_prob(lo)} to {_prob(hi)})"))
    he = float(ds["hedge_effectiveness"])
    rows.append(("hedge effectiveness", f"{he:.4f}  (1 - Var hedged / Var unhedged)"))
    fm = float(ds["funding_mean"])
    fse = float(ds["funding_mean_se"])
    fu = float(ds["funding_usd_mean"])
    rows.append(("expected funding (+ received)", f"{fm:+.6f} {unit} +- {fse:.6f}  ({_num(fu)} USD)"))
    rows.append(("expected fees", f"{float(ds['fees_mean']):.6f} {unit}"))
    rows.append(("mean max drawdown, hedged", f"{_num(float(ds['max_drawdown_mean']))} USD"))
    w = max(len(r[0]) for r in rows)
    lines += [f"{k:<{w}}  {v}" for k, v in rows]
    lines.append("")
    head = f"{'PnL at horizon (USD)':<24}{'hedged':>18}{'unhedged':>18}"
    lines.append(head)
    lines.append("-" * len(head))

    def row(label, var, **sel):
        h = float(ds[var].sel(portfolio="hedged", **sel))
        u = float(ds[var].sel(portfolio="unhedged", **sel))
        lines.append(f"{label:<24}{_num(h):>18}{_num(u):>18}")

    row("mean", "pnl_mean")
    lines.append(f"{'  +- se':<24}{_num(float(ds['pnl_mean_se'].sel(portfolio='hedged'))):>18}"
                 f"{_num(float(ds['pnl_mean_se'].sel(portfolio='unhedged'))):>18}")
    row("std", "pnl_std")
    for lev in ds["level"].values:
        row(f"VaR {100 * lev:g} %", "var", level=lev)
    for lev in ds["level"].values:
        row(f"ES {100 * lev:g} %", "es", level=lev)
    row("median", "pnl_quantile", quantile=0.5)
    lines.append("(VaR and ES are losses: positive = loss)")
    lines.append("")
    wall = a.get("wall_time_s", math.nan)
    pss = a.get("path_steps_per_second", math.nan)
    lines.append(f"wall time {wall:.2f} s, {pss / 1e6:.1f} M path-steps/s on {a.get('threads')} threads")
    return "\n".join(lines)
