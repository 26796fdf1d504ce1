"""The lock on an output being written (``.NAME.lock``) and the sweep of temporaries left
by writes that did not finish (``.NAME.tmp-<pid>-<hex>``, ``.NAME.old-<pid>-<hex>``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import sim
from sim.errors import ResultFileError
from sim.results import lock

from resultkit import ROOT, SEED_EXAMPLE, files_under, small_config

SHORT = ["--set", "simulation.horizon=2d", "-q", "--paths", "512"]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _spawn(code: str) -> subprocess.Popen:
    """A Python process running ``code``; returns once it printed its first line."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read()
    return proc


def _stop(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    proc.send_signal(sig)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()


def test_a_second_writer_gets_one_line(tmp_path, cli):
    out = tmp_path / "r.zarr"
    holder = _spawn(f"from sim.results import lock\nl = lock.acquire({str(out)!r})\nprint('ready', flush=True)\n"
                    "import time\ntime.sleep(120)\n")
    try:
        code, stdout, err = cli(["run", SEED_EXAMPLE, "--out", out, *SHORT])
        assert code == 2 and stdout == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert f"result '{out}': another hedgesim process is writing it (pid {holder.pid} on " \
               f"{socket.gethostname()}" in lines[0]
        assert "lock" in lines[0]
        # --resume of a distributed store that a live process writes: refused before any cluster starts
        code, _, err = cli(["run", SEED_EXAMPLE, "--out", out, "--workers", "1", "--resume", *SHORT])
        assert code == 2 and "another hedgesim process is writing it" in err and len(err.strip().splitlines()) == 1
        with pytest.raises(ResultFileError, match="another hedgesim process"):
            sim.run(small_config(), paths=512, out=out)
        assert not out.exists()
    finally:
        _stop(holder)
    # its process is gone (SIGKILL: the lock file stays): the next writer removes it with a note
    assert (tmp_path / ".r.zarr.lock").exists()
    code, _, err = cli(["run", SEED_EXAMPLE, "--out", out, *SHORT])
    assert code == 0, err
    assert f"removing the stale lock '{tmp_path / '.r.zarr.lock'}' (pid {holder.pid} no longer runs)" in err
    assert files_under(tmp_path) == {"r.zarr"} | {f"r.zarr/{f}" for f in files_under(out)}


def test_the_lock_names_its_holder(tmp_path):
    out = tmp_path / "r.nc"
    with lock.acquire(out):
        info = json.loads((tmp_path / ".r.nc.lock").read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        assert info["started"].endswith("Z")
        with lock.acquire(out):  # re-entrant in the same thread (the CLI, then the writer)
            pass
        assert (tmp_path / ".r.nc.lock").exists()
        errors = []

        def other_thread():
            try:
                lock.acquire(out)
            except ResultFileError as exc:
                errors.append(str(exc))

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert errors and "another thread" in errors[0]
    assert not (tmp_path / ".r.nc.lock").exists()


def test_a_lock_of_another_host_is_respected(tmp_path):
    out = tmp_path / "r.zarr"
    (tmp_path / ".r.zarr.lock").write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started": "x"}))
    with pytest.raises(ResultFileError, match="pid 1 on elsewhere.example.*remove .*.r.zarr.lock"):
        lock.acquire(out)


def test_stale_locks_are_removed(tmp_path):
    out = tmp_path / "r.zarr"
    notes = []
    for content in (json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}),
                    json.dumps({"pid": os.getpid(), "host": socket.gethostname()})):  # left by this process
        (tmp_path / ".r.zarr.lock").write_text(content)
        with lock.acquire(out, note=notes.append):
            pass
    assert len(notes) == 2 and all("stale lock" in n for n in notes)
    old = tmp_path / ".r.zarr.lock"
    old.write_text("")  # a writer that died between creating and filling it
    os.utime(old, (time.time() - 60, time.time() - 60))
    with lock.acquire(out, note=notes.append):
        pass
    assert "empty or unreadable" in notes[-1] and not old.exists()


def test_locks_are_released_after_errors(tmp_path, cli, monkeypatch):
    from sim import engine

    def fails(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "simulate", fails)
    code, _, _ = cli(["run", SEED_EXAMPLE, "--out", tmp_path / "sub" / "r.zarr", *SHORT])
    assert code == 130
    assert files_under(tmp_path) == set()  # no lock, and no folder made for it


def _leftover(tmp_path, name: str, age_s: float = 0.0, folder: bool = True):
    p = tmp_path / name
    if folder:
        p.mkdir()
        (p / "zarr.json").write_text("{}")
    else:
        p.write_text("x")
    if age_s:
        t = time.time() - age_s
        os.utime(p, (t, t))
    return p


def test_the_next_write_sweeps_its_own_temporaries(tmp_path, cli):
    dead, alive = _dead_pid(), os.getppid()
    gone = [_leftover(tmp_path, f".r.zarr.tmp-{dead}-0123abcd"),
            _leftover(tmp_path, f".r.zarr.old-{dead}-0123abce"),
            _leftover(tmp_path, f".r.zarr.tmp-{alive}-0123abcf", age_s=2 * 86400),
            _leftover(tmp_path, ".r.zarr.tmp-89abcdef", age_s=2 * 86400)]  # hedgesim before v1: no pid
    kept = [_leftover(tmp_path, f".r.zarr.tmp-{alive}-01234567"),  # a live writer (of another hedgesim)
            _leftover(tmp_path, ".r.zarr.tmp-89abcde0"),  # before v1, less than a day old
            _leftover(tmp_path, ".r.zarr.backup", age_s=3 * 86400),  # not a name of hedgesim's
            _leftover(tmp_path, f".q.zarr.tmp-{dead}-0123abcd"),  # another output's
            _leftover(tmp_path, f".r.zarr.tmp-{dead}-notahex0", folder=False)]
    code, _, err = cli(["run", SEED_EXAMPLE, "--out", tmp_path / "r.zarr", *SHORT])
    assert code == 0, err
    assert "removed 4 temporaries of r.zarr left by writes that did not finish" in err
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in kept)


def test_sigkill_during_the_write_is_cleaned_at_the_next_write(tmp_path, cli):
    """A process killed (SIGKILL) while it writes leaves its temporary and its lock; the
    next write of the same output removes both, with notes, and nothing else remains."""
    out = tmp_path / "r.zarr"
    code = (
        "import time, xarray as xr, sim\n"
        "from sim.results import io\n"
        "real = xr.Dataset.to_zarr\n"
        "def slow(self, store, *a, **k):\n"
        "    real(self[['index_T']], store, *a, **k)\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(120)\n"
        "xr.Dataset.to_zarr = slow\n"
        f"cfg = sim.load_config({str(SEED_EXAMPLE)!r}, overrides={{'simulation.horizon': '1d'}})\n"
        f"sim.run(cfg, paths=256, out={str(out)!r})\n")
    writer = _spawn(code)
    _stop(writer, signal.SIGKILL)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left[0] == ".r.zarr.lock" and left[1].startswith(f".r.zarr.tmp-{writer.pid}-") and len(left) == 2
    code, _, err = cli(["run", SEED_EXAMPLE, "--out", out, *SHORT])
    assert code == 0, err
    assert "stale lock" in err and "removed 1 temporary of r.zarr" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zarr"]
