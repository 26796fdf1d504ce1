"""What a managed hedge did (the policy rows of ``hedgesim run``) and the table of
``hedgesim margin --policy``: the (on-exchange, reserve) frontier and the plan with the
least expected total loss (docs/policies.md)."""

from __future__ import annotations

import json
import math

import xarray as xr

from sim.report.fmt import fmt_number, fmt_probability


def format_frontier(ds: xr.Dataset) -> str:
    a = ds.attrs
    unit = a.get("margin_unit", "BTC")
    p = float(a["target"])
    digits = 4 if unit == "BTC" else 2
    amt = (lambda x: "none on the grid" if not math.isfinite(x) else f"{x:,.{digits}f} {unit}")  # noqa: E731
    lines = [
        f"hedgesim margin --policy | {a.get('config_source', '')} | {a.get('paths', 0):,} paths x "
        f"{a.get('steps', 0):,} steps = {a.get('horizon')} | seed {a.get('seed')}",
        f"target: P(losing the hedge at least once) <= {100 * p:g} % | transfer delay {a.get('transfer_delay')} | "
        f"margin mode {a.get('margin_mode')} | exchange default rate {a.get('default_rate'):g}/yr, recovery "
        f"{100 * a.get('recovery_rate', 0.0):g} %",
        f"method: {a.get('method')}",
        "",
        f"static (no policy): minimum collateral {amt(a['static_min_collateral'])} (95 % CI "
        f"{amt(a['static_min_collateral_low'])} to {amt(a['static_min_collateral_high'])}); P = "
        f"{100 * a['static_liquidation_probability']:.2f} %, expected total loss "
        f"{fmt_number(a['static_expected_total_loss'])} USD (exchange default: "
        f"{fmt_number(a.get('static_exchange_loss_usd', math.nan))} USD)",
        "",
        f"{'on exchange':>18}{'reserve needed':>22}{'trigger':>9}{'P(lose hedge)':>15}{'exp. total loss':>17}"
        f"{'exp. exchange loss':>20}",
    ]
    for j, c in enumerate(ds["collateral"].values):
        r = float(ds["min_reserve"].values[j])
        if math.isfinite(r):
            t = float(ds["min_reserve_trigger"].values[j])
            f = int((abs(ds["trigger"].values[j] - t)).argmin())
            v = ds.sel(collateral=c, reserve=r).isel(trigger_fraction=f)
            lines.append(f"{amt(float(c)):>18}{amt(r):>22}{t:>9.3g}{100 * float(v.liquidation_probability):>14.2f}%"
                         f"{fmt_number(float(v.expected_total_loss)):>13} USD{fmt_number(float(v.exchange_loss_usd_mean)):>16} USD")
        else:
            lines.append(f"{amt(float(c)):>18}{'none on the grid':>22}")
    lines.append("")
    if "best_collateral" in a:
        lines.append(
            f"least expected total loss meeting the target: {amt(a['best_collateral'])} on the exchange + "
            f"{amt(a['best_reserve'])} in reserve, top-up at margin level {a['best_trigger']:.3g}: "
            f"P = {100 * a['best_liquidation_probability']:.2f} %, expected total loss "
            f"{fmt_number(a['best_expected_total_loss'])} +- {fmt_number(a['best_expected_total_loss_se'])} USD "
            f"(exchange default: {fmt_number(a.get('best_exchange_loss_usd', math.nan))} USD)")
    else:
        lines.append("no plan on the grid meets the target: raise the reserve grid (more paths do not help)")
    lines.append("(expected total loss = equity forfeited at liquidations + what an exchange default takes; USD)")
    return "\n".join(lines)


def policy_rows(ds: xr.Dataset) -> list[tuple[str, str]]:
    """Summary rows of a managed single-variant run (none for a static hedge)."""
    if "reserve_used_mean" not in ds:
        return []
    cfg = json.loads(ds.attrs.get("config", "{}"))
    pol, ex = cfg.get("policy", {}), cfg.get("exchange", {})
    unit = ds["reserve_used"].attrs.get("units", "BTC")
    d = 6 if unit == "BTC" else 2
    num = (lambda name: f"{float(ds[name]):,.{d}f} {unit}")  # noqa: E731
    plan = [f"reserve {pol.get('top_up_reserve', 0):g} {unit}"]
    if pol.get("top_up_trigger") is not None:
        plan.append(f"top up at level {pol['top_up_trigger']:g} -> {pol['top_up_to']:g} after {pol['transfer_delay']}")
    if pol.get("withdraw_above") is not None:
        plan.append(f"withdraw above {pol['withdraw_above']:g} -> {pol['withdraw_to']:g}")
    if pol.get("rehedge"):
        plan.append(f"re-hedge after {pol['rehedge_delay']}")
    if pol.get("rebalance_every") is not None or pol.get("rebalance_band") is not None:
        every = pol.get("rebalance_every") or "every step"
        band = pol.get("rebalance_band")
        plan.append(f"rebalance {every}" + (f" beyond a {100 * band:g} % drift" if band else ""))
    plan.append(f"margin {ex.get('margin_mode', 'isolated')}, wallet {ex.get('wallet', 0):g} {unit}")
    if ex.get("partial_liquidation"):
        plan.append(f"partial liquidation from tier {ex.get('partial_liquidation_tier', 2)}")
    q99 = float(ds["reserve_used_quantile"].sel(quantile_level=0.99))
    rows = [
        ("managed hedge", "; ".join(plan)),
        ("top-ups (transfers in)", f"mean {float(ds['top_ups_mean']):.3f} per path; reserve used mean "
         f"{num('reserve_used_mean')}, 99 % quantile {q99:,.{d}f} {unit}"),
        ("reserve exhausted", f"{fmt_probability(float(ds['reserve_exhausted_probability']))}  (95 % CI "
         f"{fmt_probability(float(ds['reserve_exhausted_probability_low']))} to "
         f"{fmt_probability(float(ds['reserve_exhausted_probability_high']))})"),
        ("withdrawn, re-hedges", f"mean {num('withdrawn_mean')}; mean {float(ds['rehedges_mean']):.4f} re-hedges"),
        ("on the exchange", f"time-average {num('mean_on_exchange_mean')}; peak {num('max_on_exchange_mean')} "
         "(means over paths)"),
        (f"exchange default ({ex.get('default_rate', 0):g}/yr)",
         f"{fmt_probability(float(ds['exchange_default_probability']))}; expected loss {num('exchange_loss_mean')} "
         f"({fmt_number(float(ds['exchange_loss_usd_mean']))} USD) +- {fmt_number(float(ds['exchange_loss_usd_mean_se']))} USD, "
         f"{100 * ex.get('recovery_rate', 0):g} % recovered"),
        ("expected total loss", f"{fmt_number(float(ds['expected_total_loss']))} +- "
         f"{fmt_number(float(ds['expected_total_loss_se']))} USD (equity forfeited at liquidations + exchange loss)"),
    ]
    if "rebalances_mean" in ds:  # results written before rebalancing existed lack it
        rows.insert(4, ("rebalances, partial liquidations",
                        f"mean {float(ds['rebalances_mean']):.3f} resizes; mean "
                        f"{float(ds['partial_liquidations_mean']):.4f} cuts to a lower tier (per path)"))
    return rows
