"""Arguments of ``hedgesim calibrate | replay | backtest`` (kept free of heavy imports:
the parser is built for every command)."""

from __future__ import annotations

import argparse


def _data_args(sp: argparse.ArgumentParser, funding_required: bool = False) -> None:
    sp.add_argument("--prices", action="append", required=True, metavar="CSV",
                    help="price CSV (any layout of the project's data folder, or timestamp,price); repeat to "
                         "splice files (where they overlap, the later file wins)")
    sp.add_argument("--funding", action="append", required=funding_required, metavar="CSV",
                    help="funding CSV (rates per 8 h; with spot and perp prices when the file has them)")
    sp.add_argument("--price-columns", metavar="MAP",
                    help="explicit column mapping, e.g. time=Timestamp,close=Close_futures,high=High_futures,"
                         "label=end (label: open|end|point; also utc_offset=HOURS, unit=s|ms)")
    sp.add_argument("--funding-columns", metavar="MAP",
                    help="explicit column mapping for --funding, e.g. time=Date,funding=Rate,utc_offset=3")
    sp.add_argument("--keep-last-bar", action="store_true",
                    help="keep the last bar of files labelled by bar open time (dropped by default: it may be partial)")


def _config_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("config", help="TOML scenario (the hedge: position, exchange, funding interval)")
    sp.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a config value (repeatable)")
    sp.add_argument("--out", help='result file, ".zarr" or ".nc"')
    sp.add_argument("--no-save", action="store_true", help="do not write a result file")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress or diagnostics on stderr")
    sp.set_defaults(paths=None, seed=None, sweeps=[], threads=None, chunk=None)


def _robust_args(sp: argparse.ArgumentParser, many: bool) -> None:
    """The robust calibration choices (sim.data.choices, docs/data.md)."""
    sp.add_argument("--stress-weight", type=float, metavar="W",
                    help="weight W (0 <= W < 1, e.g. 0.25) of the variance of the most stressed 30 days before the "
                         "end in the calibrated variance (EU 153/2013 Art. 28(1)(b))" +
                         (" (for every choice that does not set it)" if many else ""))
    sp.add_argument("--vol-floor", metavar="LOOKBACK",
                    help='volatility at least that of the last LOOKBACK ("10y", "3650d", "all") of data '
                         "(EU 153/2013 Art. 28(1)(c))")
    sp.add_argument("--vol-buffer", type=float, metavar="B",
                    help="volatility x (1 + B), e.g. 0.25 (EU 153/2013 Art. 28(1)(a))")


def add_parsers(sub) -> None:
    c = sub.add_parser("calibrate", help="fit GBM / Merton, funding and basis OU to market data by maximum "
                       "likelihood; prints a config fragment (TOML) on stdout")
    _data_args(c)
    c.add_argument("--model", choices=("gbm", "merton"), default="merton",
                   help="price model written to [market] (both are fitted and compared; default merton)")
    c.add_argument("--start", help="first day/time of the sample (UTC; default: start of the data)")
    c.add_argument("--end", help="last day of the sample (UTC; a date alone includes that whole day; default: "
                   "end of the data)")
    c.add_argument("--drift", choices=("fitted", "zero"), default="fitted",
                   help="market.mu: the estimate (default) or 0")
    c.add_argument("--calibration-window", metavar="LOOKBACK",
                   help='sample = the trailing LOOKBACK ending at --end ("365d", "3y", "all"; instead of --start); '
                        "a choice may carry +stress_weight=W, +vol_floor=L, +vol_buffer=B")
    _robust_args(c, many=False)
    c.add_argument("--out", metavar="TOML", help="write the config fragment to this .toml file instead of stdout "
                   "(a new file, or one hedgesim calibrate wrote with --force; never another file)")
    c.add_argument("--force", action="store_true", help="with --out: replace a config hedgesim calibrate wrote")
    c.add_argument("-q", "--quiet", action="store_true", help="no diagnostics on stderr")

    r = sub.add_parser("replay", help="run the config's hedge along the realised price path (one window, or "
                       "rolling windows with --every)")
    _config_args(r)
    _data_args(r)
    r.add_argument("--start", required=True, help="window start (UTC), e.g. 2020-03-01")
    r.add_argument("--horizon", help='window length, e.g. "30d" (default: simulation.horizon)')
    r.add_argument("--every", help='rolling windows: a new window every this long, e.g. "7d" (needs --end)')
    r.add_argument("--end", help="rolling windows: the last window start (UTC)")

    b = sub.add_parser("backtest", help="walk-forward: calibrate on the trailing window, simulate, replay the next "
                       "window, for each model x calibration choice; Brier and log scores, skill, block-bootstrap "
                       "intervals of differences, VaR exceptions, Kupiec and Christoffersen tests")
    _config_args(b)
    _data_args(b)
    b.add_argument("--from", dest="first", required=True, help="first window start (UTC)")
    b.add_argument("--to", dest="last", required=True, help="last window start (UTC)")
    b.add_argument("--window", help='forecast / replay window (default: simulation.horizon)')
    b.add_argument("--step", default="7d", help='distance between window starts (default "7d")')
    b.add_argument("--calibration-window", default="365d", metavar="CHOICES",
                   help='calibration choices compared, comma-separated: a trailing look-back ("365d", "3y", "all") '
                        'optionally with +stress_weight=W, +vol_floor=L, +vol_buffer=B, e.g. "365d,1095d,all" or '
                        '"365d,365d+stress_weight=0.25" (default "365d")')
    _robust_args(b, many=True)
    b.add_argument("--block", type=int, default=8, help="starts per block of the circular block bootstrap of Brier "
                   "differences (default 8)")
    b.add_argument("--paths", type=int, default=20_000, help="simulated paths per forecast (default 20000)")
    b.add_argument("--seed", type=int, help="random seed of every forecast (default simulation.seed)")
    b.add_argument("--models", default="gbm,merton", help="forecast models compared: gbm, merton (bootstrap when "
                   "available; kou is not fitted yet) (default gbm,merton)")
    b.add_argument("--drift", choices=("zero", "fitted"), default="zero",
                   help="market.mu of the forecasts: 0 (default) or the trailing estimate")
    b.add_argument("--threads", type=int, help="numba threads (performance only)")
