"""A write that fails (a full disk, an HDF or zarr error, a failure while the marker is
written, an interruption) gives one ``ResultFileError`` line naming the path and the
cause, and leaves nothing: not the result, not a temporary, not the lock."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import xarray as xr

import sim
from sim.errors import ResultFileError
from sim.results import marker

from resultkit import SEED_EXAMPLE, files_under, small_config

SHORT = ["--set", "simulation.horizon=2d", "-q", "--paths", "512"]
FAILURES = {"full disk": (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
            "HDF error": (RuntimeError("NetCDF: HDF error"), "NetCDF: HDF error"),
            "zarr error": (ValueError("codec pipeline failed"), "codec pipeline failed")}


def _failing(monkeypatch, method: str, exc: BaseException) -> list[Path]:
    """Dataset.<method> writes part of the file under its (temporary) name, then raises."""
    real = getattr(xr.Dataset, method)
    seen = []

    def writer(self, target, *args, **kwargs):
        seen.append(Path(target))
        real(self[["index_T"]], target, *args, **kwargs)
        assert Path(target).exists()
        raise exc

    monkeypatch.setattr(xr.Dataset, method, writer)
    return seen


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("suffix, method", [(".nc", "to_netcdf"), (".zarr", "to_zarr")])
def test_cli_write_failure_is_one_line_and_leaves_nothing(tmp_path, cli, monkeypatch, failure, suffix, method):
    exc, text = FAILURES[failure]
    seen = _failing(monkeypatch, method, exc)
    out = tmp_path / f"r{suffix}"
    code, stdout, err = cli(["run", SEED_EXAMPLE, "--out", out, *SHORT])
    assert code == 2
    assert err.strip().splitlines() == [f"hedgesim: error: result '{out}': cannot be written ({text})"]
    assert seen and seen[0].name.startswith(f".r{suffix}.tmp-")
    assert files_under(tmp_path) == set()


@pytest.mark.parametrize("suffix, method", [(".nc", "to_netcdf"), (".zarr", "to_zarr")])
def test_api_write_failure_keeps_the_previous_result(tmp_path, monkeypatch, suffix, method):
    out = tmp_path / f"r{suffix}"
    first = sim.run(small_config(), paths=512, seed=1, out=out)
    _failing(monkeypatch, method, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(ResultFileError, match=r"cannot be written \(No space left on device\)"):
        sim.run(small_config(), paths=512, seed=2, out=out)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    xr.testing.assert_identical(first, sim.open_result(out))


def test_failure_while_the_marker_is_written(tmp_path, monkeypatch):
    def broken(store, *a, **k):
        (Path(store) / "hedgesim.json").write_text('{"half')
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(marker, "write_marker", broken)
    with pytest.raises(ResultFileError, match=r"cannot be written \(Input/output error\)"):
        sim.run(small_config(), paths=512, out=tmp_path / "r.zarr")
    assert files_under(tmp_path) == set()


@pytest.mark.parametrize("suffix, method", [(".nc", "to_netcdf"), (".zarr", "to_zarr")])
def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch, suffix, method):
    _failing(monkeypatch, method, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        sim.run(small_config(), paths=512, out=tmp_path / f"r{suffix}")
    assert files_under(tmp_path) == set()


def _signal_during(monkeypatch, method: str, times: int) -> None:
    """Dataset.<method> gets SIGINT ``times`` times while it writes."""
    import os
    import signal
    import time

    real = getattr(xr.Dataset, method)

    def writer(self, target, *args, **kwargs):
        for _ in range(times):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        return real(self, target, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, method, writer)


@pytest.mark.parametrize("suffix, method", [(".nc", "to_netcdf"), (".zarr", "to_zarr")])
def test_an_interrupt_during_the_write_lets_it_finish(tmp_path, monkeypatch, capfd, suffix, method):
    """SIGINT while the result is written: the write finishes, then the interrupt is
    InterruptedAfterWrite (the result is complete); a second SIGINT abandons the write."""
    out = tmp_path / f"r{suffix}"
    _signal_during(monkeypatch, method, 1)
    with pytest.raises(sim.errors.InterruptedAfterWrite):
        sim.run(small_config(), paths=512, out=out)
    assert "finishing the write" in capfd.readouterr().err
    monkeypatch.undo()
    assert sim.open_result(out)["hedged_pnl"].size == 512
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]

    _signal_during(monkeypatch, method, 2)
    with pytest.raises(KeyboardInterrupt) as info:
        sim.run(small_config(), paths=512, seed=2, out=out)
    assert not isinstance(info.value, sim.errors.InterruptedAfterWrite)
    monkeypatch.undo()
    assert sim.open_result(out).attrs["seed"] != 2  # the previous result is still there
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
