"""The table of ``hedgesim margin --policy``: the (on-exchange, reserve) frontier and the
plan with the least expected total loss (docs/policies.md)."""

from __future__ import annotations

import math

import xarray as xr

from sim.report.fmt import fmt_number


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
        f"{fmt_number(a['static_expected_total_loss'])} USD",
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
            f"{fmt_number(a['best_expected_total_loss'])} +- {fmt_number(a['best_expected_total_loss_se'])} USD")
    else:
        lines.append("no plan on the grid meets the target: raise the reserve grid (more paths do not help)")
    lines.append("(expected total loss = equity forfeited at liquidations + what an exchange default takes; USD)")
    return "\n".join(lines)
