"""SIGINT and SIGTERM during ``hedgesim run`` (issue 12, item 4), in real subprocesses.

Each trial starts ``python -m sim run`` on a run big enough to spend a while simulating and
writing (60,000 paths: a ~6 MB store), waits for a moment of the run, waits a seeded delay
more, and sends the signal. Moments: during the simulation (after the first progress
output), during the write (the hidden temporary ``.r.zarr.tmp-*`` exists) and just after the
write (``r.zarr`` appeared: the table is being printed). Every trial must end as one of

- exit 130 (SIGINT) / 143 (SIGTERM), one line on stderr, no result and nothing hidden left
  (no ``.r.zarr.tmp-*``, ``.r.zarr.old-*`` or lock), or
- exit 0 with a complete, readable result: the signal came during the write, which
  finishes first (``sim.results.signals.held``), or after it,

and never a traceback. Four trials run in ``make test`` (in parallel, ~15 s on an idle
machine); set ``HEDGESIM_SIGNAL_TRIALS=N`` for N more, seeded, at random moments. The exit
statuses themselves, and ``hedgesim report`` under SIGTERM, are tested below.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sim

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "default.toml"
PATHS = 60_000
STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
TIMEOUT_S = 180.0


class Trial:
    """One ``hedgesim run`` in ``folder`` that gets ``sig`` ``delay`` seconds after ``moment``
    ("progress", "tmp" or "result")."""

    def __init__(self, folder: Path, sig: int, moment: str, delay: float, seed: int):
        folder.mkdir(parents=True)
        self.folder, self.sig, self.moment, self.delay = folder, sig, moment, delay
        self.out = folder / "r.zarr"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sim", "run", str(DEFAULT), "--paths", str(PATHS), "--seed", str(seed),
             "--set", "simulation.horizon=1d", "--threads", "1", "--no-band", "--out", str(self.out)],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        os.set_blocking(self.proc.stderr.fileno(), False)
        self.err = b""
        self.seen_at: float | None = None  # when the moment was seen
        self.sent = False

    def _moment_seen(self) -> bool:
        if self.moment == "progress":
            return bool(self.err)
        names = [p.name for p in self.folder.iterdir()]
        if self.moment == "tmp":
            return any(n.startswith(".r.zarr.tmp-") for n in names)
        return "r.zarr" in names

    def poll(self) -> bool:
        """Advance; True once the process has exited."""
        try:
            chunk = self.proc.stderr.read()
            if chunk:
                self.err += chunk
        except (BlockingIOError, TypeError):
            pass
        if self.proc.poll() is not None:
            return True
        now = time.monotonic()
        if self.seen_at is None and self._moment_seen():
            self.seen_at = now
        if not self.sent and self.seen_at is not None and now - self.seen_at >= self.delay:
            self.proc.send_signal(self.sig)
            self.sent = True
        return False

    def finish(self) -> tuple[int, str, str]:
        out, rest = self.proc.communicate(timeout=TIMEOUT_S)
        return self.proc.returncode, out.decode(errors="replace"), (self.err + (rest or b"")).decode(errors="replace")


def run_trials(trials: list[Trial]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    pending = list(trials)
    while pending and time.monotonic() < deadline:
        pending = [t for t in pending if not t.poll()]
        time.sleep(0.002)
    for t in pending:  # pragma: no cover - a hung run
        t.proc.kill()
        pytest.fail(f"hedgesim run did not end within {TIMEOUT_S} s ({t.moment}, {signal.Signals(t.sig).name})")


class WrittenButInterrupted(AssertionError):
    """Exit 130/143 although the result was written and is complete."""


def check(t: Trial) -> str:
    """The outcome of a trial ("interrupted" or "complete"), asserting the rules above."""
    code, out, err = t.finish()
    what = f"{signal.Signals(t.sig).name} {t.delay:.3f} s after {t.moment}: exit {code}\nstderr: {err[-2000:]}"
    assert "Traceback" not in err, what
    left = sorted(p.name for p in t.folder.iterdir() if p.name.startswith("."))
    assert not left, f"{what}\nleft behind: {left}"
    if code == STATUS[t.sig]:
        if t.out.exists():
            raise WrittenButInterrupted(f"{what}\nexit {code} but the result exists")
        lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("hedgesim:")]
        assert lines and "no result written" in lines[-1], what
        return "interrupted"
    assert code == 0, what
    ds = sim.open_result(t.out)
    assert ds.sizes["path"] == PATHS and np.isfinite(ds["hedged_pnl"].values).all(), what
    assert f"result written to {t.out}" in out or "interrupted" in err, what
    return "complete"


def test_signals_at_several_moments(tmp_path):
    rng = random.Random(12)
    plan = [(signal.SIGINT, "progress", rng.uniform(0.0, 0.3)),
            (signal.SIGTERM, "tmp", rng.uniform(0.0, 0.1)),
            (signal.SIGINT, "tmp", rng.uniform(0.0, 0.1)),
            (signal.SIGTERM, "result", 0.0)]
    trials = [Trial(tmp_path / f"t{i}", sig, moment, delay, seed=i + 1) for i, (sig, moment, delay) in enumerate(plan)]
    run_trials(trials)
    outcomes = []
    for t in trials:
        try:
            outcomes.append(check(t))
        except WrittenButInterrupted as exc:
            outcomes.append(exc)
    # a signal just after the rename, handled while sim.results.io.write releases its lock or
    # restores the signal handlers, is an interrupt after the write (exit 0, result complete)
    assert not any(isinstance(o, WrittenButInterrupted) for o in outcomes), outcomes
    assert outcomes[0] == "interrupted"  # mid-simulation: nothing was written
    assert outcomes[1:] == ["complete"] * 3  # during the write (it finishes first), and after it


@pytest.mark.skipif(not os.environ.get("HEDGESIM_SIGNAL_TRIALS"), reason="set HEDGESIM_SIGNAL_TRIALS=N to run N more")
def test_signals_at_random_moments(tmp_path):
    n = int(os.environ["HEDGESIM_SIGNAL_TRIALS"])
    rng = random.Random(1212)
    outcomes = []
    for batch in range(0, n, 2):  # two at a time: the machine's cores
        trials = [Trial(tmp_path / f"t{i}", rng.choice(list(STATUS)), rng.choice(["progress", "tmp", "result"]),
                        rng.uniform(0.0, 0.4), seed=i) for i in range(batch, min(n, batch + 2))]
        run_trials(trials)
        outcomes += [check(t) for t in trials]
    print({o: outcomes.count(o) for o in set(outcomes)})


# --------------------------------------------------------------------------- exit statuses (in-process, fast)


@pytest.fixture
def command(monkeypatch):
    """``command(fn)``: ``hedgesim show X`` runs ``fn()`` as its body."""
    from sim.cli import show

    def install(fn):
        monkeypatch.setattr(show, "cmd", lambda args: fn())
    return install


def test_sigterm_raises_terminated_and_exits_143(cli, command):
    before = signal.getsignal(signal.SIGTERM)

    def body():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the handler main installed
        return 0

    command(body)
    code, out, err = cli(["show", "r.zarr"])
    assert code == 143 and err == "hedgesim: terminated\n"
    assert signal.getsignal(signal.SIGTERM) is before  # restored in-process


@pytest.mark.parametrize("exc, status, words", [
    (KeyboardInterrupt(), 130, "interrupted"),
    (sim.errors.Terminated(), 143, "terminated"),
    (sim.errors.InterruptedAfterWrite("r.zarr", "SIGTERM"), 0, "interrupted (SIGTERM) after writing 'r.zarr'"),
])
def test_exit_status_says_what_happened(cli, command, exc, status, words):
    def body():
        raise exc

    command(body)
    code, out, err = cli(["show", "r.zarr"])
    assert code == status and err.count("\n") == 1 and words in err, err


def test_a_signal_once_the_command_has_ended_changes_nothing(cli, monkeypatch):
    import contextlib

    from sim.cli import common, show

    @contextlib.contextmanager
    def session(args):
        yield
        os.kill(os.getpid(), signal.SIGINT)  # while the session closes (output locks released)
        time.sleep(0.05)

    monkeypatch.setattr(common, "session", session)
    monkeypatch.setattr(show, "cmd", lambda args: 0)
    assert cli(["show", "r.zarr"]) == (0, "", "")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_report_interrupted_while_printing_is_complete(cli, monkeypatch, tmp_path):
    from sim.cli import report

    monkeypatch.setattr("sim.report.html.make_report", lambda result, out: [Path(out) / "report.html"])

    def print_(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "print", print_, raising=False)
    code, out, err = cli(["report", "r.zarr", "--out", tmp_path / "rep"])
    assert code == 0 and "interrupted (SIGINT) after writing" in err and "which is complete" in err, err


def _drawing(proc) -> bool:
    """matplotlib's font library is loaded in ``proc``: the report is about to draw (Linux)."""
    try:
        return "ft2font" in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="watches /proc/PID/maps (Linux)")
def test_sigterm_during_report(tmp_path):
    """``hedgesim report`` gets SIGTERM a seeded delay after it loaded matplotlib: exit 143
    with the folder as it was and no temporary, or 0 with a complete report; never a
    traceback. One trial (a new folder) in make test; with HEDGESIM_SIGNAL_TRIALS also into
    its own folder and later."""
    pytest.importorskip("matplotlib")
    from sim.cli.main import main

    result = tmp_path / "r.zarr"
    assert main(["run", str(DEFAULT), "--paths", "3000", "-q", "--set", "simulation.horizon=2d",
                 "--save-paths", "20", "--no-band", "--out", str(result)]) == 0
    own = tmp_path / "own"
    assert main(["report", str(result), "--out", str(own)]) == 0
    (own / "NOTES.txt").write_text("keep me")

    def listing(f: Path):
        return {q.name: q.read_bytes() for q in f.iterdir()} if f.exists() else None

    rng = random.Random(4)
    trials = []
    plan = [(tmp_path / "new" / "rep", 0.1), (own, rng.uniform(0.5, 2.0)), (tmp_path / "new2", rng.uniform(1.5, 4.0))]
    for folder, delay in plan[:None if os.environ.get("HEDGESIM_SIGNAL_TRIALS") else 1]:  # one in make test
        proc = subprocess.Popen([sys.executable, "-m", "sim", "report", str(result), "--out", str(folder)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        trials.append([proc, folder, listing(folder), delay, None])
    deadline = time.monotonic() + TIMEOUT_S
    while any(t[4] is None and t[0].poll() is None for t in trials) and time.monotonic() < deadline:
        for t in trials:
            if t[4] is None and t[0].poll() is None and _drawing(t[0]):
                t[4] = time.monotonic() + t[3]
        time.sleep(0.005)
    for when, proc in sorted((t[4], t[0]) for t in trials if t[4] is not None):
        time.sleep(max(0.0, when - time.monotonic()))
        proc.send_signal(signal.SIGTERM)
    codes = []
    for proc, folder, before, _, _ in trials:
        _, err = proc.communicate(timeout=TIMEOUT_S)
        err = err.decode(errors="replace")
        codes.append(proc.returncode)
        assert "Traceback" not in err, err
        hidden = [q.name for d in (folder.parent, folder) if d.exists() for q in d.iterdir() if q.name.startswith(".")]
        assert not hidden, hidden
        if proc.returncode == 143:
            assert err.strip() == "hedgesim: terminated; the report folder is as it was", err
            assert listing(folder) == before
        else:
            assert proc.returncode == 0, err
            assert {"report.html", "hedgesim-report.json", "fan_chart.png"} <= set(listing(folder)), err
    assert (own / "NOTES.txt").read_text() == "keep me"
    assert codes[0] == 143  # cut while drawing
