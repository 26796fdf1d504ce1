"""What every subcommand shares: the common options, loading the config they name, the
result path they write and writing it, the notes they print before simulating (a result
about to be replaced, kernels about to be compiled) and labelled progress bars.

Each raises ``UsageError`` / ``ConfigError`` / ``ResultFileError`` for invalid input,
which ``sim.cli.main`` turns into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import sys
from contextvars import ContextVar
from pathlib import Path

from sim.config import load_config, parse_set_option, parse_sweep_option
from sim.errors import InterruptedAfterWrite, ResultFileError, UsageError
from sim.results import io, lock, meta
from sim.results.kinds import kind_of

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
                    help="paths per alternative model of the band (default: the run's, at most 50,000, or "
                         "what margin's smallest target needs)")


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
    given = {"set": list(getattr(args, "sets", None) or []), "sweep": list(getattr(args, "sweeps", None) or [])}
    try:
        with meta.command_line(text, given):
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
        note_compiling(args, cfg)
        return None
    out = args.out or (cfg.output.path if not suffix else "") or str(Path("results") / f"{cfg.name}{suffix}.zarr")
    io.check_path(out)
    _check_writable(out)
    locks = _LOCKS.get()
    if locks is not None:
        locks.append(lock.acquire(out))
    if io.check_output(out):  # also with -q: a replaced result is not progress
        print(f"hedgesim: {replacing_note(out, chosen=bool(args.out))}", file=sys.stderr)
    note_compiling(args, cfg)
    return out


def replacing_note(out: str, chosen: bool = True) -> str:
    """What is about to be replaced at ``out`` (a result of hedgesim's own): its kind, date
    and ``--set``/``--sweep`` options; ``chosen``: the user named the path (else it is the
    config's default path, and ``--out`` would keep both)."""
    what = "a hedgesim result"
    try:
        old = io.read(out, lazy=True)  # metadata only
    except ResultFileError:
        old = None
    if old is not None:
        a = old.attrs
        created = str(a.get("created", "")).replace("T", " ").replace("Z", " UTC")
        kind = kind_of(old)
        what = f"a hedgesim {kind} result" if kind != "other" else what
        if created:
            what += f" from {created}"
        given = meta.overrides_of(a)
        opts = [f"--set {x}" for x in given["set"]] + [f"--sweep {x}" for x in given["sweep"]]
        if opts:
            what += " made with " + " ".join(opts)
        old.close()
    return f"replacing {out} ({what})" + ("" if chosen else "; give --out PATH to keep both")


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
        io.write(ds, out, note=_note_unless_replacing)
    except ResultFileError:
        raise
    except OSError as exc:  # e.g. disk full, permission denied, a file in the way
        raise UsageError(f"result {out!r}: cannot be written ({exc.strerror or exc})") from None


def _note_unless_replacing(text: str) -> None:
    """Notes of the writer, but the replacement: ``out_path`` said so before simulating."""
    if not text.startswith("replacing the existing result"):
        lock.note_to_stderr(text)


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


# the compiled entry points (sim.kernel.driver) each command needs
KERNELS = {"replay": ("replay_accounts",), "backtest": ("simulate_chunk", "replay_accounts")}


def kernels_cold(names: tuple[str, ...] = ("simulate_chunk",)) -> bool:
    """Whether numba is about to compile one of these kernels: neither compiled in this
    process nor in numba's on-disk cache for this source and CPU (the dispatcher's cache
    index; numba returns an empty index when the source changed). Reads one small index
    file per kernel; False when it cannot tell (never a false alarm)."""
    try:
        from sim.kernel import driver
    except ImportError:  # pragma: no cover - a broken install fails later, with its own message
        return False
    for name in names:
        disp = getattr(driver, name, None)
        if disp is None or disp.signatures:
            continue
        try:
            index = disp._cache._cache_file._load_index()
            magic = disp.targetctx.codegen().magic_tuple()
            if any(isinstance(key, tuple) and len(key) > 1 and key[1] == magic for key in index):
                continue
        except Exception:  # noqa: BLE001 - numba internals differ: say nothing
            continue
        return True
    return False


def note_compiling(args, cfg=None) -> None:
    """``compiling kernels (first run only) ...`` on stderr when the command is about to
    compile (numba's cache is cold); nothing with ``-q`` or a warm cache."""
    if getattr(args, "quiet", False):
        return
    names = KERNELS.get(getattr(args, "command", ""), ("simulate_chunk",))
    if cfg is not None and any(st.get("type") == "replay" for st in (cfg.stress or [])):
        names = (*names, "replay_accounts")
    if kernels_cold(names):
        print("hedgesim: compiling kernels (first run only; numba caches them) ...", file=sys.stderr, flush=True)


class LabelledBars:
    """Progress of a command that runs the engine several times (stress scenarios, the
    frontier's collateral levels): a callable ``(done, total)`` for ``engine.simulate`` that
    shows one tqdm bar per run, labelled from ``labels`` in order (a run past the list is
    ``run k``). The first bar is shown at once; each completed run opens the next."""

    def __init__(self, labels: list[str]):
        self.labels = list(labels)
        self.k = 0
        self.bar = None
        self._open(None)

    def _label(self) -> str:
        return self.labels[self.k] if self.k < len(self.labels) else f"run {self.k + 1}"

    def _open(self, total: int | None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="path", unit_scale=True, file=sys.stderr, desc=self._label(),
                        dynamic_ncols=True, leave=False)

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self._open(total)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()
        if done >= total:
            self.bar.close()
            self.k += 1
            self.bar = None
            if self.k < len(self.labels):
                self._open(total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


CALIBRATED = re.compile(r"^# hedgesim \S+ calibrate:")  # the first line of sim.data.calibrate.to_toml


def check_config_out(path: str, force: bool) -> Path:
    """Where ``hedgesim calibrate --out`` may write its TOML, checked before fitting: a new
    file, or (with ``--force``) one that ``hedgesim calibrate`` wrote; never another file
    (a hand-written config is not replaced, even with ``--force``)."""
    p = Path(path)
    where = f"--out {path!r}"
    if p.suffix != ".toml":
        raise UsageError(f'{where}: expected a ".toml" file name')
    if p.is_dir():
        raise UsageError(f"{where}: is a folder")
    if not p.exists():
        _check_writable(path)
        return p
    try:
        with open(p, encoding="utf-8") as f:
            first = f.readline()
    except (OSError, UnicodeDecodeError):
        first = ""
    if not CALIBRATED.match(first):
        raise UsageError(f"{where}: exists and is not a config written by hedgesim calibrate; not replacing it "
                         "(choose another --out)")
    if not force:
        raise UsageError(f"{where}: exists (a config written by hedgesim calibrate); give --force to replace it, "
                         "or choose another --out")
    _check_writable(path)
    print(f"hedgesim: replacing {path} (a config written by hedgesim calibrate)", file=sys.stderr)
    return p


def write_text(path: Path, text: str) -> None:
    """``text`` to ``path`` through a temporary file in the same folder and a rename: a
    failed or interrupted write leaves the previous file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = lock.temp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        io.remove(tmp)
        raise
