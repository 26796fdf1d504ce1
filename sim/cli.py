"""Command line: ``hedgesim run | show``.

Exit status: 0 success, 2 invalid input (config, option, file), 1 unexpected error.
Progress goes to stderr, tables to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import ConfigError, load_config, parse_set_option
from .io import ResultFileError


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hedgesim", description="Monte Carlo risk of a BTC stack hedged with a short "
                                "inverse (or linear) perpetual.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="simulate a scenario and print its summary")
    r.add_argument("config", help="TOML scenario, e.g. configs/default.toml")
    r.add_argument("--paths", type=int, help="number of paths (overrides simulation.paths)")
    r.add_argument("--seed", type=int, help="random seed (overrides simulation.seed)")
    r.add_argument("--out", help='result file, ".zarr" or ".nc" (default: output.path or results/<config>.zarr)')
    r.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (repeatable), e.g. --set market.sigma=1.2")
    r.add_argument("--save-paths", type=int, metavar="K", help="store K sample trajectories (simulation.save_paths)")
    r.add_argument("--threads", type=int, help="numba threads (performance only; results do not change)")
    r.add_argument("--chunk", type=int, metavar="PATHS", help="paths per progress chunk (results do not change)")
    r.add_argument("--no-save", action="store_true", help="do not write a result file")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    s = sub.add_parser("show", help="print the summary of a saved result")
    s.add_argument("result", help="a .zarr or .nc file written by hedgesim run")
    return p


def _cmd_run(args) -> int:
    import sim
    from . import io
    from .summary import format_summary

    overrides = dict(parse_set_option(item) for item in args.sets)
    if args.save_paths is not None:
        overrides["simulation.save_paths"] = args.save_paths
    if args.paths is not None:
        overrides["simulation.paths"] = args.paths
    if args.seed is not None:
        overrides["simulation.seed"] = args.seed
    cfg = load_config(args.config, overrides=overrides)
    out = None
    if not args.no_save:
        out = args.out or cfg.output.path or str(Path("results") / f"{cfg.name}.zarr")
        io.check_path(out)
        _check_writable(out)
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads {args.threads}: must be at least 1")
    if args.chunk is not None and args.chunk < 1:
        raise UsageError(f"--chunk {args.chunk}: must be at least 1 path")
    ds = sim.run(cfg, progress=not args.quiet, threads=args.threads, chunk_paths=args.chunk)
    if out:
        try:
            io.write(ds, out)  # atomic: nothing is left under `out` (or a temp name) on failure
        except ResultFileError:
            raise
        except OSError as exc:  # e.g. disk full, permission denied, a file in the way
            raise UsageError(f"result {out!r}: cannot be written ({exc.strerror or exc})") from None
    print(format_summary(ds))
    if out:
        print(f"result written to {out}")
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
    from . import io
    from .summary import format_summary

    suffix = Path(args.result).suffix
    if suffix not in io.SUFFIXES:
        raise UsageError(f'result {args.result!r}: unknown format "{suffix}"; hedgesim show reads the '
                         '".zarr" or ".nc" files written by hedgesim run')

    ds = io.read(args.result)
    print(format_summary(ds))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "show":
            return _cmd_show(args)
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
