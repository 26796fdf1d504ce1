"""What every subcommand shares: the common options, loading the config they name, the
result path they write and writing it.

Each raises ``UsageError`` / ``ConfigError`` / ``ResultFileError`` for invalid input,
which ``sim.cli.main`` turns into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from contextvars import ContextVar
from pathlib import Path

from sim.config import load_config, parse_set_option, parse_sweep_option
from sim.errors import InterruptedAfterWrite, ResultFileError, UsageError
from sim.results import io, lock, meta

_LOCKS: ContextVar[list | None] = ContextVar("hedgesim_cli_locks", default=None)


def add_common_args(sp: argparse.ArgumentParser) -> None:
    """The config and the options of every simulating subcommand (run, margin, stress)."""
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


def add_band_args(sp: argparse.ArgumentParser) -> None:
    """The model band's options (run, margin): docs/band.md."""
    sp.add_argument("--no-band", action="store_true",
                    help="skip the model band (the key figures under alternative models)")
    sp.add_argument("--band-paths", type=int, metavar="PATHS",
                    help="paths per alternative model of the band (default: the run's, at most 100,000)")


def load_config_args(args, extra: dict | None = None):
    """The config of ``args.config`` with ``--set``, ``--paths``, ``--seed``, ``extra``
    overrides and ``--sweep``; its notes go to stderr."""
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


@contextlib.contextmanager
def session(args):
    """Around one subcommand: its command line, recorded in the results it writes (attr
    ``command``), and the locks on the outputs it writes (``out_path``), released when it
    ends, also on errors and interruptions."""
    argv = getattr(args, "argv", None)
    text = "hedgesim " + (shlex.join(argv) if argv is not None else str(args.command))
    locks: list = []
    token = _LOCKS.set(locks)
    try:
        with meta.command_line(text):
            yield
    finally:
        _LOCKS.reset(token)
        for held in reversed(locks):
            held.release()


def out_path(args, cfg, suffix: str = "") -> str | None:
    """Where the result goes (``--out``, else ``output.path`` for a run, else
    ``results/<config><suffix>.zarr``), checked before simulating: a writable place, not
    being written by another hedgesim (its lock is taken here, within ``session``), and
    nothing there but a result of hedgesim's own (which the write replaces). None with
    ``--no-save``."""
    if args.no_save:
        return None
    out = args.out or (cfg.output.path if not suffix else "") or str(Path("results") / f"{cfg.name}{suffix}.zarr")
    io.check_path(out)
    _check_writable(out)
    locks = _LOCKS.get()
    if locks is not None:
        locks.append(lock.acquire(out))
    io.check_output(out)
    return out


def _check_writable(out: str) -> None:
    """Fail before simulating, not after, when the result cannot be written there."""
    d = Path(out).absolute().parent
    while not d.exists():
        d = d.parent
    if not d.is_dir():
        raise UsageError(f"result {out!r}: cannot be written ({str(d)!r} is a file, not a directory)")
    if not os.access(d, os.W_OK | os.X_OK):
        raise UsageError(f"result {out!r}: cannot be written (no write permission in {str(d)!r})")


def write_result(ds, out: str) -> None:
    """Write ``ds`` to ``out`` atomically (replacing only a result of hedgesim's own): nothing
    is left under ``out`` (or a temporary name) on failure."""
    try:
        io.write(ds, out)
    except ResultFileError:
        raise
    except OSError as exc:  # e.g. disk full, permission denied, a file in the way
        raise UsageError(f"result {out!r}: cannot be written ({exc.strerror or exc})") from None


def write_and_print(ds, out: str | None, text: str, noun: str = "result") -> None:
    """Write ``ds`` (unless ``--no-save``), print its table, then where it went. An
    interrupt once the result is written is ``InterruptedAfterWrite`` (exit status 0)."""
    if out:
        write_result(ds, out)
    try:
        print(text)
        if out:
            print(f"{noun} written to {out}")
    except KeyboardInterrupt as exc:
        if out:
            raise InterruptedAfterWrite.after(exc, out) from None
        raise


def note_stress_scenarios(cfg) -> None:
    """A run (local or distributed) leaves the config's [[stress]] scenarios to ``hedgesim stress``."""
    if cfg.stress:
        print(f"note: the {len(cfg.stress)} [[stress]] scenarios of this config are run by `hedgesim stress`",
              file=sys.stderr)
