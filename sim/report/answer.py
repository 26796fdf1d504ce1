"""The first section of ``report.html``, "The answer": the result in plain words for a
risk committee, and the key assumptions it rests on (docs/report.md).

- a run: the liquidation probability with its 95 % interval, hedged against unhedged
  ES 99 % and VaR 99 % (USD), hedge effectiveness, the model band's range when the result
  has one; with sweeps or report times, the first variant at the horizon;
- a margin curve: the minimum collateral per target probability;
- a margin frontier: the least-loss plan;
- a backtest: a pointer to the Brier table (no single answer).

The assumptions (model, volatility, horizon, paths, collateral, leverage, exchange and
fees, monitoring) are read from the result's attrs and stored config; what a result does
not record is left out, never guessed.
"""

from __future__ import annotations

import html
import math

import numpy as np
import xarray as xr

from sim.report.fmt import fmt_number, fmt_probability
from sim.report.header import override_lines
from sim.results.kinds import at_horizon, first_variant, kind_of, sweep_dims


def _f(da) -> float:
    try:
        return float(at_horizon(da) if isinstance(da, xr.DataArray) else da)
    except (TypeError, ValueError):
        return math.nan


def _usd(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:,.0f} USD"


def run_answer(ds: xr.Dataset) -> list[str]:
    """Plain sentences for a run result (text, not HTML)."""
    v = first_variant(ds)
    a = ds.attrs
    horizon = a.get("horizon", "the horizon")
    out = []
    dims = sweep_dims(ds)
    if dims:
        which = ", ".join(f"{d} = {v[d].values.item()}" for d in dims if d in v.coords)
        out.append(f"This result holds {int(np.prod([ds.sizes[d] for d in dims]))} hedge variants; the figures "
                   f"below are for the first ({which}); the summary table lists every variant.")
    if "liquidation_probability" in v:
        p = _f(v["liquidation_probability"])
        lo, hi = _f(v.get("liquidation_probability_low", math.nan)), _f(v.get("liquidation_probability_high", math.nan))
        ci = f" (95 % interval {fmt_probability(lo)} to {fmt_probability(hi)})" if np.isfinite(lo) else ""
        out.append(f"The short hedge is liquidated within {horizon} on {fmt_probability(p)} of the simulated "
                   f"paths{ci}.")
    if "expected_shortfall" in v and "value_at_risk" in v:
        es = {p: _f(v["expected_shortfall"].sel(portfolio=p, level=0.99)) for p in ("hedged", "unhedged")}
        var = {p: _f(v["value_at_risk"].sel(portfolio=p, level=0.99)) for p in ("hedged", "unhedged")}
        out.append(f"In the worst 1 % of outcomes the hedged holdings lose {_usd(es['hedged'])} on average "
                   f"(ES 99 %), against {_usd(es['unhedged'])} unhedged. A loss of {_usd(var['hedged'])} hedged "
                   f"({_usd(var['unhedged'])} unhedged) is exceeded with probability 1 % (VaR 99 %).")
    if "hedge_effectiveness" in v:
        he = _f(v["hedge_effectiveness"])
        if np.isfinite(he):
            out.append(f"Hedge effectiveness: the hedge removes {100 * he:.1f} % of the variance of the PnL "
                       "(1 - Var(hedged) / Var(unhedged)).")
    out += band_answer(ds)
    return out


def band_answer(ds: xr.Dataset) -> list[str]:
    """The model band's range (docs/band.md), [] without one."""
    if "band_liquidation_probability" not in ds or "model_band" not in ds.dims:
        return []
    models = [str(m) for m in ds["model_band"].values]
    p = np.asarray(ds["band_liquidation_probability"].values, dtype=float)
    out = []
    if np.isfinite(p).any():
        out.append(f"Model risk: under the configured model and {len(models) - 1} alternatives "
                   f"({', '.join(models[1:])}) the liquidation probability ranges from "
                   f"{fmt_probability(float(np.nanmin(p)))} to {fmt_probability(float(np.nanmax(p)))}"
                   + (f" ({int(ds.attrs['band_paths']):,} paths each)." if "band_paths" in ds.attrs else "."))
    if "band_expected_shortfall" in ds:
        es = np.asarray(ds["band_expected_shortfall"].values, dtype=float)
        if np.isfinite(es).any():
            out.append(f"The hedged ES 99 % ranges from {_usd(float(np.nanmin(es)))} to "
                       f"{_usd(float(np.nanmax(es)))} across those models.")
    return out


def margin_answer(ds: xr.Dataset) -> list[str]:
    v = first_variant(ds) if "liquidated" in ds else ds
    dims = [d for d in v["min_collateral"].dims if d != "target"]
    if dims:
        v = v.isel({d: 0 for d in dims})
    unit = ds.attrs.get("margin_unit", "BTC")
    horizon = ds.attrs.get("horizon", "the horizon")
    out = []
    for k, t in enumerate(v["target"].values):
        c = float(v["min_collateral"].values[k])
        if np.isfinite(c):
            out.append(f"To keep the probability of liquidation within {horizon} at or below "
                       f"{fmt_probability(float(t))}, post at least {c:.4g} {unit} of collateral.")
        else:
            out.append(f"A target of {fmt_probability(float(t))} is not resolvable with this many paths.")
    if "band_min_collateral" in ds:
        bc = np.asarray(ds["band_min_collateral"].values, dtype=float)
        for k, t in enumerate(ds["target"].values):
            col = bc[:, k]
            if np.isfinite(col).any():
                out.append(f"Across the model band the collateral for {fmt_probability(float(t))} ranges from "
                           f"{np.nanmin(col):.4g} to {np.nanmax(col):.4g} {unit}; the largest is the "
                           "recommendation.")
    return out


def frontier_answer(ds: xr.Dataset) -> list[str]:
    a = ds.attrs
    unit = a.get("margin_unit", "BTC")
    if "best_collateral" not in a:
        return ["No plan on the grid meets the target; see the summary table."]
    return [f"The plan with the least expected total loss keeps {float(a['best_collateral']):.4g} {unit} on the "
            f"exchange and {float(a['best_reserve']):.4g} {unit} in reserve: expected total loss "
            f"{_usd(float(a['best_expected_total_loss']))}, against {_usd(float(a.get('static_expected_total_loss', math.nan)))} "
            f"for the static plan (target P(losing the hedge) <= {100 * float(a.get('target', math.nan)):g} %)."]


def assumptions(ds: xr.Dataset, cfg: dict) -> list[tuple[str, str]]:
    """(name, plain value) of the key assumptions; those the result does not record left out."""
    a = ds.attrs
    m, pos, ex, sim = (cfg.get(k, {}) or {} for k in ("market", "position", "exchange", "simulation"))
    fund = cfg.get("funding", {}) or {}
    out: list[tuple[str, str]] = []
    model = a.get("model") or m.get("model")
    if model:
        extra = ""
        if m.get("jump_intensity") and model in ("merton", "kou"):
            extra = f", {m['jump_intensity']:g} jumps a year"
        if m.get("history"):
            extra = f", resampled from {m['history']}"
        out.append(("price model", f"{model}{extra}"))
    if m.get("sigma") is not None:
        out.append(("volatility", f"{100 * float(m['sigma']):g} % a year (diffusion)"))
    if a.get("horizon"):
        out.append(("horizon", f"{a['horizon']} in steps of {a.get('dt', '?')}"))
    if a.get("paths"):
        out.append(("paths", f"{int(a['paths']):,} (seed {a.get('seed', '?')})"))
    if pos.get("collateral") is not None or pos.get("collateral_usd") is not None:
        c = pos.get("collateral")
        text = f"{c:g} {a.get('margin_unit', 'BTC')}" if c is not None else f"{pos['collateral_usd']:,.0f} USD"
        if pos.get("stack") is not None:
            text += f" for a stack of {pos['stack']:g} BTC, hedge ratio {pos.get('hedge_ratio', 1):g}"
        out.append(("collateral", text))
    lev = _f(first_variant(ds)["leverage"]) if "leverage" in ds else math.nan
    if np.isfinite(lev):
        out.append(("leverage", f"{lev:.3g}x at entry"))
    if ex:
        name = ex.get("preset") or ex.get("name") or "?"
        bits = [f"{ex.get('margin_mode', '')} margin".strip()]
        if ex.get("maintenance_margin") is not None:
            bits.append(f"maintenance margin {100 * float(ex['maintenance_margin']):g} %")
        if ex.get("taker_fee") is not None:
            bits.append(f"taker fee {100 * float(ex['taker_fee']):g} %")
        out.append(("exchange and fees", f"{name}: " + ", ".join(b for b in bits if b)))
    if fund.get("mean") is not None:
        out.append(("funding", f"mean rate {100 * float(fund['mean']):g} % per {fund.get('interval', 'interval')}"))
    mon = a.get("monitoring") or sim.get("monitoring")
    if mon:
        out.append(("liquidation monitoring", f"{mon} (the mark is checked "
                    + ("between steps as well, through the Brownian bridge)" if mon == "continuous" else
                       "at the end of each step only)")))
    for line in override_lines(dict(a)):
        k, _, val = line.partition(": ")
        out.append((k, val))
    return out


def answer_html(ds: xr.Dataset, cfg: dict) -> str:
    """The ``<section id="answer">`` of report.html."""
    esc = html.escape
    kind = kind_of(ds)
    if kind == "run":
        said = run_answer(ds)
    elif kind == "margin":
        said = margin_answer(ds)
    elif kind == "frontier":
        said = frontier_answer(ds)
    else:
        said = ["A walk-forward backtest has no single answer: read the Brier scores and their intervals in the "
                "summary table, and the reliability figure."] if kind == "backtest" else []
    parts = ['<section id="answer"><h2>The answer</h2>']
    parts += [f"<p>{esc(s)}</p>" for s in said] or ['<p>See the summary table below.</p>']
    rows = assumptions(ds, cfg) if kind != "backtest" else []
    if rows:
        parts.append("<p><b>Key assumptions</b></p><ul class=\"assume\">"
                     + "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in rows) + "</ul>")
    parts.append("</section>")
    return "\n".join(parts)
