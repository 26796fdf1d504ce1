"""The printed summaries of ``hedgesim replay`` and ``hedgesim backtest`` (the Datasets of
``sim.data.replay.replay_windows`` and ``sim.data.backtest.backtest``; docs/data.md,
docs/validation.md). A backtest prints one row per method (model x calibration choice)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from sim.report.fmt import fmt_fixed
from sim.report.header import override_lines


def _money(x: float) -> str:
    return f"{x:+,.0f}" if math.isfinite(x) else "n/a"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %" if math.isfinite(x) else "n/a"


def _header(ds: xr.Dataset, command: str) -> list[str]:
    """The command, config, data files and mark of a replay or backtest Dataset."""
    return [f"hedgesim {command} | {ds.attrs.get('config_source', '')} | prices {ds.attrs['prices']}",
            f"funding: {ds.attrs['funding'] or 'config path (no file)'} | mark: {ds.attrs['mark']}",
            *override_lines(ds.attrs)]


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


def _methods(ds: xr.Dataset) -> list[tuple[str, str, str | None]]:
    """(label, model, calibration or None) of each method of a backtest Dataset (a result
    of an earlier version, without a ``method`` coordinate: one per model)."""
    if "method" not in ds.coords:
        return [(str(m), str(m), None) for m in ds["model"].values]
    cal = "calibration" in ds.dims
    return [(str(lab), str(m), str(c) if cal else None) for lab, m, c in
            zip(ds["method"].values, ds["method_model"].values, ds["method_calibration"].values)]


def _at(ds: xr.Dataset, name: str, model: str, cal: str | None) -> xr.DataArray:
    da = ds[name].sel(model=model)
    return da.sel(calibration=cal) if cal is not None and "calibration" in da.dims else da


def _num(x: float, spec: str) -> str:
    return format(x, spec) if math.isfinite(x) else "n/a"


def _forecast_table(ds: xr.Dataset, methods) -> list[str]:
    y = ds["liquidated"].values.astype(float)
    ref = methods[0][0]
    w = max(14, *(len(m[0]) for m in methods))
    hdr = (f"  {'method':<{w}} {'Brier':>7} {'non-ovl':>7} {'skill vs 0':>10} {'vs base':>8} {'log score':>9} "
           f"{'mean fc':>8} {'realised':>8}  ΔBrier vs {ref} [95 % interval]")
    L = [hdr, "  " + "-" * (len(hdr) - 2)]
    has_diff = "brier_difference" in ds
    for lab, m, c in methods:
        bs = float(_at(ds, "brier_score", m, c))
        bsn = float(_at(ds, "brier_score_non_overlapping", m, c))
        sk0 = float(_at(ds, "brier_skill_zero", m, c)) if "brier_skill_zero" in ds else 1 - bs / y.mean()
        skb = float(_at(ds, "brier_skill_base_rate", m, c)) if "brier_skill_base_rate" in ds else math.nan
        ls = float(_at(ds, "log_score", m, c)) if "log_score" in ds else math.nan
        mp = float(_at(ds, "predicted_liquidation_probability", m, c).mean())
        d = ""
        if has_diff and lab != ref:
            sel = dict(method=lab, reference=ref)
            d = (f"{_num(float(ds['brier_difference'].sel(sel)), '+.4f')} "
                 f"[{_num(float(ds['brier_difference_low'].sel(sel)), '+.4f')}, "
                 f"{_num(float(ds['brier_difference_high'].sel(sel)), '+.4f')}]")
        elif lab == ref:
            d = "(reference)"
        L.append(f"  {lab:<{w}} {_num(bs, '.4f'):>7} {_num(bsn, '.4f'):>7} {_pct(sk0):>10} {_pct(skb):>8} "
                 f"{_num(ls, '.4f'):>9} {_pct(mp):>8} {_pct(y.mean()):>8}  {d}")
    if "base_rate_forecast" in ds:
        cals = ds["calibration"].values if "calibration" in ds.dims else [ds["calibration"].values.item()]
        for c in cals:
            sel = {"calibration": c} if "calibration" in ds.dims else {}
            b = ds["base_rate_forecast"].sel(sel).values
            ok = np.isfinite(b)
            lab = f"base rate {str(c).split('+')[0]}"
            if any(ln.lstrip().startswith(lab + " ") for ln in L):
                continue
            bs = float(ds["brier_score_base_rate"].sel(sel))
            sk = 1 - bs / y[ok].mean() if ok.any() and y[ok].mean() > 0 else math.nan
            L.append(f"  {lab:<{w}} {_num(bs, '.4f'):>7} {'':>7} {_pct(sk):>10} "
                     f"{'':>8} {_num(float(ds['log_score_base_rate'].sel(sel)), '.4f'):>9} "
                     f"{_pct(b[ok].mean() if ok.any() else math.nan):>8} {_pct(y[ok].mean() if ok.any() else math.nan):>8}"
                     f"  ({int(ok.sum())} of {len(b)} starts)")
    L.append(f"  {'always 0':<{w}} {y.mean():>7.4f} {y[ds['non_overlapping'].values].mean():>7.4f} "
             f"{_pct(0.0 if y.mean() > 0 else math.nan):>10} "
             f"{'':>8} {'':>9} {_pct(0.0):>8} {_pct(y.mean()):>8}")
    a = ds.attrs
    L.append(f"  (Brier: all windows; non-ovl: the non-overlapping ones. Skill = 1 - Brier / Brier of always 0, or of "
             f"the base rate: the liquidated share of the windows inside the method's look-back that ended by each "
             f"start, over the starts where it is defined. Log score in nats, p clipped to "
             f"[{a.get('log_score_clip', 1e-6):g}, 1 - {a.get('log_score_clip', 1e-6):g}], lower is better. "
             f"Intervals: circular block bootstrap over starts, blocks of {a.get('bootstrap_block', 8)} consecutive "
             f"starts, {int(a.get('bootstrap_replicates', 0)):,} resamples, seed {a.get('bootstrap_seed', '')}; an "
             "interval that holds 0 means the data cannot tell the two methods apart.)")
    return L


def _bucket_table(ds: xr.Dataset, methods) -> list[str]:
    L = []
    nonovl = "bucket_windows_non_overlapping" in ds
    L.append("  calibration buckets: predicted range -> all windows (mean predicted, realised); non-overlapping "
             "windows (liquidated of n, realised frequency with its 95 % Wilson interval)" if nonovl else
             "  calibration (all windows): predicted range -> windows, mean predicted, realised frequency")
    w = max(len(m[0]) for m in methods)
    for lab, m, c in methods:
        cnt = _at(ds, "bucket_windows", m, c).values
        for k, b in enumerate(ds["bucket"].values):
            if not cnt[k]:
                continue
            line = (f"    {lab:<{w}} {b:<12} {int(cnt[k]):>4} windows  predicted "
                    f"{_pct(float(_at(ds, 'bucket_predicted', m, c)[k])):>8}  realised "
                    f"{_pct(float(_at(ds, 'bucket_realised', m, c)[k])):>8}")
            if nonovl:
                nn = int(_at(ds, "bucket_windows_non_overlapping", m, c)[k])
                ev = int(_at(ds, "bucket_liquidated_non_overlapping", m, c)[k])
                lo = float(_at(ds, "bucket_realised_low", m, c)[k])
                hi = float(_at(ds, "bucket_realised_high", m, c)[k])
                line += (f"  | {ev:>2}/{nn:<3} {_pct(ev / nn):>8} [{_pct(lo)}, {_pct(hi)}]" if nn else "  |  0 windows")
            L.append(line)
    return L


def format_backtest(ds: xr.Dataset) -> str:
    """One row per method (Brier, skill vs always-0 and vs the base rate, log score, mean
    forecast vs realised, ΔBrier vs the first method with its interval), the calibration
    buckets and the VaR backtest."""
    methods = _methods(ds)
    n = ds.sizes["start"]
    keep = ds["non_overlapping"].values
    nk = int(keep.sum())
    starts = pd.DatetimeIndex(ds["start"].values)
    y = ds["liquidated"].values
    L = [*_header(ds, "backtest"),
         f"window starts {starts[0]:%Y-%m-%d} to {starts[-1]:%Y-%m-%d} every {ds.attrs['step']}: {n} windows of "
         f"{ds.attrs['window']} ({nk} non-overlapping); calibration {ds.attrs['calibration_window']}; "
         f"{ds.attrs['paths_per_forecast']:,} paths per forecast; drift {ds.attrs['drift']}",
         "", "Liquidation forecasts (probability that the hedge is liquidated within the window; Brier score)",
         f"  realised: {int(y.sum())} of {n} windows liquidated ({_pct(y.mean())}); non-overlapping: "
         f"{int(y[keep].sum())} of {nk} ({_pct(y[keep].mean())})"]
    L += _forecast_table(ds, methods)
    L += _bucket_table(ds, methods)
    w = max(7, *(len(m[0]) for m in methods))
    L += ["", f"VaR backtest: {nk} non-overlapping windows (exceptions over all {n} overlapping windows in brackets, "
          "descriptive only)",
          f"  {'method':<{w}} {'portfolio':<9} {'level':>6} {'mean VaR USD':>13} {'mean ES USD':>12} {'exceptions':>15} "
          f"{'expected':>9} {'Kupiec p':>9} {'Christ. p':>10}"]
    for lab, m, c in methods:
        for pf in ds["portfolio"].values:
            for lv in ds["level"].values:
                sel = dict(portfolio=pf, level=lv)
                v = _at(ds, "predicted_var", m, c).sel(sel).values
                e = _at(ds, "predicted_es", m, c).sel(sel).values
                ex = int(_at(ds, "exceptions", m, c).sel(sel))
                exa = int(_at(ds, "exceptions_all", m, c).sel(sel))
                L.append(f"  {lab:<{w}} {pf:<9} {100 * lv:>5.0f}% {v.mean():>13,.0f} {e.mean():>12,.0f} "
                         f"{ex:>6} ({exa:>4}/{n}) {nk * (1 - lv):>9.2f} "
                         f"{_num(float(_at(ds, 'kupiec_pvalue', m, c).sel(sel)), '.3f'):>9} "
                         f"{_num(float(_at(ds, 'christoffersen_pvalue', m, c).sel(sel)), '.3f'):>10}")
    h = ds["hedged_pnl"].values
    u = ds["unhedged_pnl"].values
    L += ["", f"realised PnL per window (USD): hedged mean {h.mean():+,.0f}, std {h.std(ddof=1):,.0f}, worst "
          f"{h.min():+,.0f}; unhedged mean {u.mean():+,.0f}, std {u.std(ddof=1):,.0f}, worst {u.min():+,.0f}",
          "p-values: small (< 0.05) rejects the model: Kupiec = wrong exception rate, Christoffersen = exceptions "
          "cluster in time. Overlapping windows are dependent, so the tests use the non-overlapping subset."]
    return "\n".join(L)
