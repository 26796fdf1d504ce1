"""The printed summaries of ``hedgesim replay`` and ``hedgesim backtest`` (the Datasets of
``sim.data.replay.replay_windows`` and ``sim.data.backtest.backtest``; docs/data.md,
docs/validation.md)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from sim.report.fmt import fmt_fixed


def _money(x: float) -> str:
    return f"{x:+,.0f}" if math.isfinite(x) else "n/a"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %" if math.isfinite(x) else "n/a"


def _header(ds: xr.Dataset, command: str) -> list[str]:
    """The command, config, data files and mark of a replay or backtest Dataset."""
    return [f"hedgesim {command} | {ds.attrs.get('config_source', '')} | prices {ds.attrs['prices']}",
            f"funding: {ds.attrs['funding'] or 'config path (no file)'} | mark: {ds.attrs['mark']}"]


def format_replay(ds: xr.Dataset) -> str:
    """One window: its account line by line; rolling windows: a row each and the PnL spread."""
    mu = ds.attrs.get("margin_unit", "BTC")
    n = ds.sizes["start"]
    lines = [*_header(ds, "replay"),
             f"horizon {ds.attrs['horizon']}, bars of {ds.attrs['bar']}, {n} window(s)", ""]
    if n == 1:
        r = ds.isel(start=0)
        liq = bool(r["liquidated"])
        rows = [
            ("window", f"{pd.Timestamp(r['start'].values):%Y-%m-%d %H:%M} to "
                       f"{pd.Timestamp(r['end'].values):%Y-%m-%d %H:%M} UTC"),
            ("index at start / end", f"{float(r['index_start']):,.2f} / {float(r['index_T']):,.2f} USD"),
            ("hedge", f"{float(r['hedge_size']):,.6g} {'USD' if mu == 'BTC' else 'BTC'} short, entry "
                      f"{float(r['mark_start']):,.2f} USD"),
            ("liquidation price (at entry)", f"{fmt_fixed(float(r['liquidation_price']), ',.2f')} USD"),
            ("highest mark (bar highs)", f"{float(r['mark_high']):,.2f} USD"),
            ("liquidated", f"yes, at {pd.Timestamp(r['liquidation_date'].values):%Y-%m-%d %H:%M} UTC "
                           f"(day {float(r['liquidation_time']):.2f})" if liq else "no"),
            ("funding received (+) / paid (-)", f"{float(r['funding']):+.6f} {mu} ({float(r['funding_usd']):+,.2f} USD)"),
            ("fees", f"{float(r['fees']):.6f} {mu}"),
            ("collateral that would have survived",
             f"{fmt_fixed(float(r['required_collateral']), '.6f')} {mu} (required_collateral)"),
            ("PnL hedged / unhedged", f"{_money(float(r['hedged_pnl']))} / {_money(float(r['unhedged_pnl']))} USD"),
        ]
        lines += [f"{k:<37} {v}" for k, v in rows]
        return "\n".join(lines)
    hdr = f"{'start (UTC)':<17} {'index':>10} {'liquidated at (UTC)':>19} {'funding ' + mu:>13} " \
          f"{'hedged PnL':>12} {'unhedged PnL':>13}"
    lines += [hdr, "-" * len(hdr)]
    for i in range(n):
        r = ds.isel(start=i)
        liq = f"{pd.Timestamp(r['liquidation_date'].values):%Y-%m-%d %H:%M}" if bool(r["liquidated"]) else "-"
        lines.append(f"{pd.Timestamp(r['start'].values):%Y-%m-%d %H:%M} {float(r['index_start']):>10,.0f} {liq:>19} "
                     f"{float(r['funding']):>+13.6f} {_money(float(r['hedged_pnl'])):>12} "
                     f"{_money(float(r['unhedged_pnl'])):>13}")
    lines.append("(index, PnL in USD)")
    liq = ds["liquidated"].values
    h, u = ds["hedged_pnl"].values, ds["unhedged_pnl"].values
    lines += ["", f"windows {n}; liquidated in {int(liq.sum())} ({100 * liq.mean():.1f} %)",
              f"mean funding {ds['funding'].values.mean():+.6f} {mu} per window",
              f"{'PnL (USD)':<12} {'mean':>10} {'std':>10} {'5 %':>10} {'median':>10} {'95 %':>10} {'worst':>10}"]
    for name, x in (("hedged", h), ("unhedged", u)):
        q = np.quantile(x, [0.05, 0.5, 0.95])
        lines.append(f"{name:<12} {x.mean():>10,.0f} {x.std(ddof=1):>10,.0f} {q[0]:>10,.0f} {q[1]:>10,.0f} "
                     f"{q[2]:>10,.0f} {x.min():>10,.0f}")
    lines.append("(rolling windows overlap when --every < --horizon: they are not independent)")
    return "\n".join(lines)


def format_backtest(ds: xr.Dataset) -> str:
    """Liquidation forecasts (Brier score, calibration buckets) and the VaR backtest."""
    models = list(ds["model"].values)
    n = ds.sizes["start"]
    keep = ds["non_overlapping"].values
    nk = int(keep.sum())
    starts = pd.DatetimeIndex(ds["start"].values)
    y = ds["liquidated"].values
    L = [*_header(ds, "backtest"),
         f"window starts {starts[0]:%Y-%m-%d} to {starts[-1]:%Y-%m-%d} every {ds.attrs['step']}: {n} windows of "
         f"{ds.attrs['window']} ({nk} non-overlapping); calibration on the trailing {ds.attrs['calibration_window']}; "
         f"{ds.attrs['paths_per_forecast']:,} paths per forecast; drift {ds.attrs['drift']}",
         "", "Liquidation forecasts (probability that the hedge is liquidated within the window)",
         f"  realised: {int(y.sum())} of {n} windows liquidated ({_pct(y.mean())}); non-overlapping: "
         f"{int(y[keep].sum())} of {nk} ({_pct(y[keep].mean())})"]
    hdr = f"  {'':<40}" + "".join(f"{m:>12}" for m in models)
    L.append(hdr)
    p = ds["predicted_liquidation_probability"].values
    L.append(f"  {'mean predicted probability':<40}" + "".join(f"{_pct(p[:, a].mean()):>12}" for a in range(len(models))))
    L.append(f"  {'Brier score, all windows':<40}" + "".join(f"{float(v):>12.4f}" for v in ds["brier_score"].values))
    L.append(f"  {'Brier score, non-overlapping':<40}" + "".join(
        f"{float(v):>12.4f}" for v in ds["brier_score_non_overlapping"].values))
    L.append(f"  {'Brier score of always forecasting 0':<40}" + "".join(f"{y.mean():>12.4f}" for _ in models))
    L.append("  calibration (all windows): predicted range -> windows, mean predicted, realised frequency")
    for a, m in enumerate(models):
        for k, lab in enumerate(ds["bucket"].values):
            c = int(ds["bucket_windows"].values[a, k])
            if c:
                L.append(f"    {m:<7} {lab:<12} {c:>4} windows   predicted {_pct(ds['bucket_predicted'].values[a, k]):>9}"
                         f"   realised {_pct(ds['bucket_realised'].values[a, k]):>9}")
    L += ["", f"VaR backtest: {nk} non-overlapping windows (exceptions over all {n} overlapping windows in brackets, "
          "descriptive only)",
          f"  {'model':<7} {'portfolio':<9} {'level':>6} {'mean VaR USD':>13} {'mean ES USD':>12} {'exceptions':>15} "
          f"{'expected':>9} {'Kupiec p':>9} {'Christ. p':>10}"]
    for a, m in enumerate(models):
        for b, pf in enumerate(ds["portfolio"].values):
            for c, lv in enumerate(ds["level"].values):
                v = ds["predicted_var"].values[:, a, b, c]
                e = ds["predicted_es"].values[:, a, b, c]
                ex = int(ds["exceptions"].values[a, b, c])
                exa = int(ds["exceptions_all"].values[a, b, c])
                L.append(f"  {m:<7} {pf:<9} {100 * lv:>5.0f}% {v.mean():>13,.0f} {e.mean():>12,.0f} "
                         f"{ex:>6} ({exa:>4}/{n}) {nk * (1 - lv):>9.2f} {ds['kupiec_pvalue'].values[a, b, c]:>9.3f} "
                         f"{ds['christoffersen_pvalue'].values[a, b, c]:>10.3f}")
    h = ds["hedged_pnl"].values
    u = ds["unhedged_pnl"].values
    L += ["", f"realised PnL per window (USD): hedged mean {h.mean():+,.0f}, std {h.std(ddof=1):,.0f}, worst "
          f"{h.min():+,.0f}; unhedged mean {u.mean():+,.0f}, std {u.std(ddof=1):,.0f}, worst {u.min():+,.0f}",
          "p-values: small (< 0.05) rejects the model: Kupiec = wrong exception rate, Christoffersen = exceptions "
          "cluster in time. Overlapping windows are dependent, so the tests use the non-overlapping subset."]
    return "\n".join(L)
