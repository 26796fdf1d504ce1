"""``hedgesim calibrate | replay | backtest``: argument handling around sim.data.

Errors in the input (files, columns, periods, durations) raise ``DataError`` /
``ConfigError`` / ``UsageError``, which the CLI turns into exit status 2 with one line.
"""

from __future__ import annotations

import re
import shlex
import sys

import pandas as pd

from sim.cli.common import check_config_out, load_config_args, out_path, write_and_print, write_text
from sim.config import ConfigError, parse_duration
from sim.data.calibrate import calibrate, to_toml
from sim.data.layouts import parse_columns
from sim.data.load import load_funding, load_prices
from sim.data.times import to_utc
from sim.errors import DataError, UsageError

_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


def _log(args):
    if getattr(args, "quiet", False):
        return None
    return lambda msg: print(msg, file=sys.stderr)


def _data(args, log):
    prices = load_prices(args.prices, parse_columns(args.price_columns), keep_last=args.keep_last_bar, log=log)
    funding = None
    if args.funding:
        funding = load_funding(args.funding, parse_columns(args.funding_columns), log=log)
    return prices, funding


def _duration(text: str, option: str) -> float:
    try:
        return parse_duration(text, option)
    except ConfigError as exc:
        raise DataError(str(exc)) from None


def _time(text: str, option: str, end_of_day: bool = False) -> pd.Timestamp:
    t = to_utc(text, f"{option} {text!r}")
    if end_of_day and _DATE_ONLY.match(text):
        t = to_utc(t.as_unit("s") + pd.Timedelta(days=1), f"{option} {text!r} (the end of that day)")
    return t


def _choice_defaults(args) -> dict:
    return {"stress_weight": args.stress_weight, "vol_floor": args.vol_floor, "vol_buffer": args.vol_buffer}


def calibrate_cmd(args) -> int:
    import math

    from sim.data.choices import VolHistory, apply_choice, parse_choice

    log = _log(args)
    if args.calibration_window and args.start:
        raise UsageError("--calibration-window and --start: give one (the look-back ends at --end)")
    choice = parse_choice(args.calibration_window or "all", **_choice_defaults(args))
    if args.force and not args.out:
        raise UsageError("--force belongs to --out (calibrate prints to stdout without it)")
    target = check_config_out(args.out, args.force) if args.out else None  # before the fit, not after
    start = _time(args.start, "--start") if args.start else None
    end = _time(args.end, "--end", end_of_day=True) if args.end else None
    prices, funding = _data(args, log)
    if args.calibration_window and math.isfinite(choice.window_s):
        e = end if end is not None else prices.bars.index[-1]
        start = e - pd.Timedelta(seconds=choice.window_s)
    cal = calibrate(prices, funding, start, end, log=log)
    if choice.adjusted:
        apply_choice(cal, VolHistory(prices), choice)
        if log:
            for line in cal.robust:
                log(f"calibrate: {line}")
    if log:
        for name, fit in cal.fits.items():
            log(f"calibrate: {name}: logL {fit.loglik:,.1f} nats, AIC {fit.aic:,.1f}, KS D {fit.ks:.4f} "
                f"over {fit.n:,} returns")
    command = "hedgesim " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["calibrate"] else ""
    text = to_toml(cal, args.model, args.drift, command)
    if target is None:
        sys.stdout.write(text)
        return 0
    write_text(target, text)
    print(f"config written to {target}")
    return 0


def replay_cmd(args) -> int:
    from sim.data.replay import check_horizon, check_step, replay_windows, window_starts  # (runs the engine)
    from sim.report.text_data import format_replay

    cfg = load_config_args(args)
    horizon_s = _duration(args.horizon, "--horizon") if args.horizon else parse_duration(cfg.simulation.horizon)
    if args.every and not args.end:
        raise UsageError("--every needs --end (the last window start)")
    if args.end and not args.every:
        raise UsageError("--end needs --every (rolling windows)")
    every_s = _duration(args.every, "--every") if args.every else None
    start = _time(args.start, "--start")
    end = _time(args.end, "--end") if args.end else None
    out = out_path(args, cfg, "_replay")
    log = _log(args)
    prices, funding = _data(args, log)
    check_horizon(prices, horizon_s, "--horizon" if args.horizon else "simulation.horizon")
    if every_s is not None:
        check_step(prices, every_s, "--every")
    starts = window_starts(start, end, every_s, within=prices)
    ds = replay_windows(cfg, prices, funding, starts, horizon_s, skip_unavailable=every_s is not None, log=log)
    write_and_print(ds, out, format_replay(ds))
    return 0


def backtest_cmd(args) -> int:
    from sim.data.backtest import backtest  # (runs the engine: imported when used)
    from sim.report.text_data import format_backtest

    cfg = load_config_args(args)
    if args.paths < 100:
        raise UsageError(f"--paths {args.paths}: at least 100 paths per forecast")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads {args.threads}: must be at least 1")
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    from sim.data.choices import parse_choices
    from sim.data.methods import check_models

    models = check_models(m.strip() for m in args.models.split(",") if m.strip())
    choices = parse_choices(args.calibration_window, **_choice_defaults(args))
    if args.block < 1:
        raise UsageError(f"--block {args.block}: at least 1 start per block")
    window_s = _duration(args.window, "--window") if args.window else parse_duration(cfg.simulation.horizon)
    step_s = _duration(args.step, "--step")
    first = _time(args.first, "--from")
    last = _time(args.last, "--to")
    if last < first:
        raise UsageError(f"--to {args.last} is before --from {args.first}")
    out = out_path(args, cfg, "_backtest")
    log = _log(args)
    prices, funding = _data(args, log)
    from sim.data.replay import check_horizon, check_step

    check_horizon(prices, window_s, "--window" if args.window else "simulation.horizon")
    check_step(prices, step_s, "--step")
    bar = None
    if log:
        from tqdm import tqdm

        bar = tqdm(total=1, unit="window", file=sys.stderr, desc="backtest", dynamic_ncols=True, leave=False)
        log = lambda msg: bar.write(msg, file=sys.stderr)  # noqa: E731 (keeps the bar intact)

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()
    else:
        progress = None
    try:
        ds = backtest(cfg, prices, funding, first, last, window_s, step_s, paths=args.paths, seed=args.seed,
                      models=models, choices=choices, drift=args.drift, block=args.block, progress=progress, log=log)
    finally:
        if bar is not None:
            bar.close()
    write_and_print(ds, out, format_backtest(ds))
    return 0
