"""Command line: ``hedgesim run | margin | stress | show | report | calibrate | replay | backtest``.

Exit status: 0 success, 2 invalid input (config, option, file), 1 unexpected error.
Progress goes to stderr, tables to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sim.config.core import ConfigError, load_config, parse_set_option, parse_sweep_option
from sim.results.io import ResultFileError


from sim.errors import UsageError  # noqa: E402


def _common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("config", help="TOML scenario, e.g. configs/default.toml")
    sp.add_argument("--paths", type=int, help="number of paths (overrides simulation.paths)")
    sp.add_argument("--seed", type=int, help="random seed (overrides simulation.seed)")
    sp.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a config value (repeatable), e.g. --set market.sigma=1.2")
    sp.add_argument("--sweep", dest="sweeps", action="append", default=[], metavar="SECTION.KEY=V1,V2,...",
                    help="evaluate hedge variants on the same market paths (repeatable), e.g. "
                         "--sweep position.hedge_ratio=0.5,1; applied after --set")
    sp.add_argument("--threads", type=int, help="numba threads (performance only; results do not change)")
    sp.add_argument("--chunk", type=int, metavar="PATHS", help="paths per progress chunk (results do not change)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hedgesim", description="Monte Carlo risk of a BTC stack hedged with a short "
                                "inverse (or linear) perpetual.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="simulate a scenario and print its summary")
    _common(r)
    r.add_argument("--out", help='result file, ".zarr" or ".nc" (default: output.path or results/<config>.zarr)')
    r.add_argument("--save-paths", type=int, metavar="K", help="store K sample trajectories (simulation.save_paths)")
    r.add_argument("--no-save", action="store_true", help="do not write a result file")
    r.add_argument("--target-se", metavar="SE", help='add paths until the liquidation probability SE reaches SE '
                   '(absolute, e.g. 0.0005, or relative, e.g. 5%%); budget simulation.max_paths')
    r.add_argument("--convergence", action="store_true",
                   help="report running estimates against the number of paths (n_paths dim)")
    r.add_argument("--workers", type=int, metavar="N",
                   help="run on a local Dask cluster of N worker processes (pip install 'hedgesim[distributed]')")
    r.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    r.add_argument("--shard-paths", type=int, metavar="PATHS",
                   help="paths per shard of a distributed run, a multiple of 1024 (results do not change)")
    r.add_argument("--resume", action="store_true", help="complete an interrupted distributed run (OUT.partial)")

    m = sub.add_parser("margin", help="minimum collateral for target liquidation probabilities, and the whole curve")
    _common(m)
    m.add_argument("--target", dest="targets", action="append", type=float, metavar="P",
                   help="target liquidation probability (repeatable; default 0.01 and 0.001)")
    m.add_argument("--out", help='curve file, ".zarr" or ".nc" (default: results/<config>_margin.zarr)')
    m.add_argument("--no-save", action="store_true", help="do not write a result file")

    st = sub.add_parser("stress", help="run the [[stress]] scenarios of a config against its baseline")
    _common(st)
    st.add_argument("--out", help='table file, ".zarr" or ".nc" (default: results/<config>_stress.zarr)')
    st.add_argument("--no-save", action="store_true", help="do not write a result file")

    s = sub.add_parser("show", help="print the summary of a saved result")
    s.add_argument("result", help="a .zarr or .nc file written by hedgesim run")

    rep = sub.add_parser("report", help="PNG figures and one self-contained report.html of a saved result")
    rep.add_argument("result", help="a .zarr or .nc file written by hedgesim run or hedgesim margin")
    rep.add_argument("--out", default="report", help="folder for the figures and report.html (default: report/)")

    from sim.cli.data_args import add_parsers as add_data_parsers  # calibrate | replay | backtest (sim.data)

    add_data_parsers(sub)
    return p


def _load(args, extra: dict | None = None):
    overrides = dict(parse_set_option(item) for item in args.sets)
    if args.paths is not None:
        overrides["simulation.paths"] = args.paths
    if args.seed is not None:
        overrides["simulation.seed"] = args.seed
    overrides.update(extra or {})
    cfg = load_config(args.config, overrides=overrides)
    if args.sweeps:
        cfg = cfg.with_sweep(dict(parse_sweep_option(item) for item in args.sweeps))
    for note in cfg.notes:
        print(f"hedgesim: note: {note}", file=sys.stderr)
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads {args.threads}: must be at least 1")
    if args.chunk is not None and args.chunk < 1:
        raise UsageError(f"--chunk {args.chunk}: must be at least 1 path")
    return cfg


def _out_path(args, cfg, suffix: str = "") -> str | None:
    from sim.results import io

    if args.no_save:
        return None
    out = args.out or (cfg.output.path if not suffix else "") or str(Path("results") / f"{cfg.name}{suffix}.zarr")
    io.check_path(out)
    _check_writable(out)
    return out


def _write(ds, out: str) -> None:
    from sim.results import io

    try:
        io.write(ds, out)  # atomic: nothing is left under `out` (or a temp name) on failure
    except ResultFileError:
        raise
    except OSError as exc:  # e.g. disk full, permission denied, a file in the way
        raise UsageError(f"result {out!r}: cannot be written ({exc.strerror or exc})") from None


def _cmd_run(args) -> int:
    import sim
    from sim.report.text import format_summary

    extra = {"simulation.save_paths": args.save_paths} if args.save_paths is not None else {}
    if args.target_se is not None:
        extra["simulation.target_se"] = args.target_se
    cfg = _load(args, extra)
    out = _out_path(args, cfg)
    if args.workers is not None or args.scheduler or args.resume or args.shard_paths is not None:
        from sim.cli.distributed import run_distributed  # the only path that imports dask

        return run_distributed(args, cfg, out)
    if cfg.stress:
        print(f"note: the {len(cfg.stress)} [[stress]] scenarios of this config are run by `hedgesim stress`",
              file=sys.stderr)
    ds = sim.run(cfg, progress=not args.quiet, threads=args.threads, chunk_paths=args.chunk,
                 convergence=args.convergence)
    if out:
        _write(ds, out)
    print(format_summary(ds))
    if args.convergence:
        from sim.engine.adaptive import format_convergence

        print(format_convergence(ds))
    if ds.attrs.get("adaptive"):
        import json

        a = json.loads(ds.attrs["adaptive"])
        print(f"adaptive run: {a['stopped']} after {a['paths']:,} paths (target SE {a['target_se']}, "
              f"budget {a['max_paths']:,} paths)")
    if out:
        print(f"result written to {out}")
    return 0


def _cmd_margin(args) -> int:
    from sim.analysis.margin import run_margin

    cfg = _load(args)
    out = _out_path(args, cfg, "_margin")
    ds, text = run_margin(cfg, args.targets or [0.01, 0.001], progress=not args.quiet, threads=args.threads,
                          chunk_paths=args.chunk)
    if out:
        _write(ds, out)
    print(text)
    if out:
        print(f"curve written to {out}")
    return 0


def _cmd_stress(args) -> int:
    from sim.analysis.stress_table import run_stress

    cfg = _load(args)
    if not cfg.stress:
        raise UsageError(f"config {args.config}: has no [[stress]] scenarios")
    out = _out_path(args, cfg, "_stress")
    ds, text = run_stress(cfg, progress=not args.quiet, threads=args.threads, chunk_paths=args.chunk)
    if out:
        _write(ds, out)
    print(text)
    if out:
        print(f"table written to {out}")
    return 0


def _check_writable(out: str) -> None:
    """Fail before simulating, not after, when the result cannot be written there."""
    d = Path(out).absolute().parent
    while not d.exists():
        d = d.parent
    if not d.is_dir():
        raise UsageError(f"result {out!r}: cannot be written ({str(d)!r} is a file, not a directory)")
    if not os.access(d, os.W_OK | os.X_OK):
        raise UsageError(f"result {out!r}: cannot be written (no write permission in {str(d)!r})")


def _cmd_show(args) -> int:
    from sim.results import io
    from sim.report.text import format_summary

    suffix = Path(args.result).suffix
    if suffix not in io.SUFFIXES:
        raise UsageError(f'result {args.result!r}: unknown format "{suffix}"; hedgesim show reads the '
                         '".zarr" or ".nc" files written by hedgesim run')

    ds = io.read(args.result)
    print(_format_any(ds))
    return 0


def _format_any(ds) -> str:
    """The right table for any result hedgesim writes (run, margin curve, stress table);
    xarray's own listing for the others."""
    from types import SimpleNamespace

    from sim.report.text import format_summary

    if "liquidated" in ds and "hedged_pnl" in ds:
        return format_summary(ds)
    if "min_collateral" in ds:
        from sim.analysis.margin import format_margin

        a = ds.attrs
        raw = SimpleNamespace(paths=int(a.get("paths", 0)), seed=a.get("seed"),
                              market=SimpleNamespace(steps=int(a.get("steps", 0))))
        dims = [d for d in ds["min_collateral"].dims if d != "target"]
        return format_margin(ds, raw, dims, tiered=False)
    if "scenario" in ds.dims and "es99_hedged" in ds:
        from sim.analysis.stress_table import format_stress

        return format_stress(ds)
    return str(ds)


def _cmd_calibrate(args) -> int:
    from sim.cli.data import calibrate_cmd

    return calibrate_cmd(args)


def _cmd_replay(args) -> int:
    from sim.cli.data import replay_cmd

    return replay_cmd(args)


def _cmd_backtest(args) -> int:
    from sim.cli.data import backtest_cmd

    return backtest_cmd(args)


def _cmd_report(args) -> int:
    from sim.report.html import report_cli

    return report_cli(args)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "margin":
            return _cmd_margin(args)
        if args.command == "stress":
            return _cmd_stress(args)
        if args.command == "show":
            return _cmd_show(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "calibrate":
            return _cmd_calibrate(args)
        if args.command == "replay":
            return _cmd_replay(args)
        if args.command == "backtest":
            return _cmd_backtest(args)
    except (ConfigError, ResultFileError, UsageError) as exc:
        print(f"hedgesim: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `hedgesim show r.zarr | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("hedgesim: interrupted; no result written", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
