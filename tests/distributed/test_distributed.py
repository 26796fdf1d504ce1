"""Distributed runs on Dask (issue 7): bitwise identity with a single-process run, worker
faults, interruption and resume, and the single-machine path staying free of dask.

One local cluster of two worker processes (one thread each) serves most tests; the CLI
tests start their own ``--workers 1`` cluster as a user would. Small runs (48 or 720
hourly steps, a few thousand paths) keep the whole file well under a minute on 2 cores.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sim
from sim import results

try:
    import distributed  # noqa: F401

    HAS_DASK = True
except ImportError:  # pragma: no cover - depends on the environment
    HAS_DASK = False

requires_dask = pytest.mark.skipif(not HAS_DASK,
                                   reason="requires dask[distributed] (pip install 'hedgesim[distributed]')")
pytestmark = requires_dask

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "default.toml"
HEDGESIM = [sys.executable, "-m", "sim"]

# statistics that are order statistics or counts: bitwise equal to the single-process summary
EXACT = {"value_at_risk", "value_at_risk_se", "pnl_quantile", "pnl_quantile_low", "pnl_quantile_high", "liquidation_time_quantile",
         "funding_quantile", "max_drawdown_quantile", "liquidation_probability", "liquidation_probability_se",
         "liquidation_probability_low", "liquidation_probability_high", "shortfall_probability",
         "shortfall_probability_se", "shortfall_probability_low", "shortfall_probability_high",
         "liquidation_probability_vs_base"}


def short_config(**extra):
    over = {"simulation.horizon": "2d", "position.collateral": 0.03}  # 48 steps; liquidations happen
    over.update(extra)
    return sim.load_config(DEFAULT, overrides=over)


def sweep_config():
    cfg = short_config(**{"simulation.report_at": ["1d"], "simulation.value_threshold": 80_000.0,
                          "simulation.save_paths": 1500})
    return cfg.with_sweep({"position.collateral": [0.03, 0.1], "position.hedge_ratio": [0.5, 1.0]})


def assert_same_result(ref, ds):
    """Per-path variables and samples bitwise equal; summary equal (order statistics and
    counts bitwise, sums to rounding); the stored config reproduces the run."""
    for v in ref.data_vars:
        if "path" in ref[v].dims or "sample" in ref[v].dims:
            a, b = ref[v].values, ds[v].transpose(*ref[v].dims).values
            assert a.dtype == b.dtype, v
            assert a.shape == b.shape, v
            assert np.array_equal(a, b, equal_nan=True), f"{v} differs"
    np.testing.assert_array_equal(ds["path"].values, ref["path"].values)
    for v in results.SUMMARY_VARS:
        if v not in ref:
            continue
        assert v in ds, f"summary variable {v} missing"
        a, b = ref[v].values, ds[v].transpose(*ref[v].dims).values
        if v in EXACT:
            assert np.array_equal(a, b, equal_nan=True), f"{v}: {a} != {b}"
        else:
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=v)
    for k in ("config", "seed", "paths", "model", "steps", "rng_block_paths", "hedgesim_version"):
        assert ds.attrs[k] == ref.attrs[k], k
    assert ds.attrs["complete"] is True


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=50, preload=["sim.distributed.worker_setup"])
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def sweep_ref():
    return sim.run(sweep_config(), paths=5000, seed=3)


@pytest.mark.parametrize("shard_paths", [1024, 3072])
def test_bitwise_identical_to_single_process(client, sweep_ref, tmp_path, shard_paths, monkeypatch):
    """Sweep dims, report times, a value threshold and sample paths; 5,000 paths, so the
    last shard is partial; two shard sizes on two workers; the summary passes run on the
    workers (1,024) or in this process (3,072)."""
    import sim.distributed.store
    from sim.distributed import run

    # the summary threshold is read where the store is completed (sim.distributed.store.finish)
    monkeypatch.setattr(sim.distributed.store, "LOCAL_SUMMARY_BYTES", 0 if shard_paths == 1024 else 1 << 40)

    out = tmp_path / "r.zarr"
    ds = run(sweep_config(), out, paths=5000, seed=3, client=client, shard_paths=shard_paths, progress=False,
             log=lambda s: None)
    assert out.is_dir() and not Path(str(out) + ".partial").exists()
    assert_same_result(sweep_ref, ds)
    again = sim.open_result(out)  # the ordinary reader sees a complete result
    assert_same_result(sweep_ref, again)
    assert again.attrs["distributed"]
    assert "summary_not_computed" not in again.attrs


def test_importance_weighted_run(client, tmp_path):
    cfg = short_config(**{"simulation.importance": "auto"})
    ref = sim.run(cfg, paths=3000, seed=5)
    from sim.distributed import run

    ds = run(cfg, tmp_path / "w.zarr", paths=3000, seed=5, client=client, shard_paths=1024, progress=False,
             log=lambda s: None)
    assert "weight" in ds
    assert_same_result(ref, ds)


def test_worker_killed_mid_run(client, tmp_path):
    """A worker process is SIGKILLed while it computes a shard: the nanny restarts it, the
    scheduler hands the shard to a worker again, and the result is still identical."""
    from sim.distributed import run

    cfg = short_config(**{"simulation.horizon": "30d"})  # 720 steps: shards take a moment
    ref = sim.run(cfg, paths=24 * 1024, seed=9)
    killed = {}

    def on_shard(receipt):
        if killed:
            return
        pids = client.run(os.getpid)
        busy = {w: keys for w, keys in client.processing().items() if any("hedgesim-shard" in str(k) for k in keys)}
        if busy:
            w = next(iter(busy))
            killed["worker"], killed["keys"] = w, busy[w]
            os.kill(pids[w], signal.SIGKILL)

    ds = run(cfg, tmp_path / "k.zarr", paths=24 * 1024, seed=9, client=client, shard_paths=1024, progress=False,
             on_shard=on_shard, log=lambda s: None)
    assert killed, "no worker was busy with a shard when the first shard finished"
    assert_same_result(ref, ds)
    client.wait_for_workers(2, timeout=60)  # the nanny brought the worker back for the other tests


def _markers(part: Path) -> np.ndarray:
    from sim.distributed import done_shards

    try:
        return done_shards(part)
    except Exception:  # noqa: BLE001 - not created yet
        return np.zeros(0)


def test_interrupt_then_resume(tmp_path, capsys):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) stops a real
    `hedgesim run --workers 1` with status 130, leaves OUT.partial without the completion
    marker and no OUT; `--resume` computes only the missing shards and gives the
    single-process result."""
    from sim.cli.main import main

    out = tmp_path / "i.zarr"
    part = Path(str(out) + ".partial")
    args = ["run", str(DEFAULT), "--paths", str(12 * 2048), "--seed", "4", "--workers", "1", "--shard-paths", "2048",
            "--set", "position.collateral=0.05", "--threads", "1", "--out", str(out)]
    proc = subprocess.Popen(HEDGESIM + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            cwd=ROOT)
    t0 = time.time()
    while time.time() - t0 < 60 and (_markers(part) > 0).sum() < 2 and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    err = stderr.decode()
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert stdout == b""
    assert not out.exists() and part.is_dir()
    done = _markers(part)
    assert 0 < (done > 0).sum() < done.size, "the run should have been cut short with some shards stored"

    import zarr

    assert zarr.open_group(str(part), mode="r").attrs["complete"] is False
    # nothing reads it as a result
    with pytest.raises(sim.ResultFileError):
        sim.open_result(part)
    from sim.distributed import DistributedError, open_store

    with pytest.raises(DistributedError):
        open_store(part)
    # without --resume the partial store is not silently thrown away
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err and part.is_dir()

    missing = int((_markers(part) <= 0).sum())
    assert main(args + ["--resume", "-q"]) == 0
    err = capsys.readouterr().err
    assert f"computing {missing}\n" in err.replace(",", ""), err
    assert out.is_dir() and not part.exists()
    cfg = sim.load_config(DEFAULT, overrides={"position.collateral": 0.05})
    ref = sim.run(cfg, paths=12 * 2048, seed=4)
    ds = sim.open_result(out)
    assert_same_result(ref, ds)
    assert ds.attrs["distributed_resumed"] is True


def test_cli_one_worker_matches_single_process(tmp_path, capsys):
    """`hedgesim run ... --workers 1` end to end (its own LocalCluster), default shard size."""
    from sim.cli.main import main

    out = tmp_path / "c.zarr"
    code = main(["run", str(DEFAULT), "--paths", "3000", "--seed", "2", "--no-band", "--set", "simulation.horizon=2d", "--set",
                 "position.collateral=0.03", "--workers", "1", "--out", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "liquidation probability" in cap.out and f"result written to {out}" in cap.out
    assert "shards" in cap.err  # the per-shard progress bar
    ref = sim.run(short_config(), paths=3000, seed=2)
    assert_same_result(ref, sim.open_result(out))


@pytest.mark.parametrize("extra, message", [
    (["--workers", "2", "--shard-paths", "1000"], "multiple of the random block"),
    (["--shard-paths", "2048"], "--workers N or"),
    (["--resume"], "--workers N or"),
    (["--workers", "1", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    (["--workers", "1", "--no-save"], "--no-save"),
    (["--workers", "0"], "at least 1"),
])
def test_cli_bad_options(tmp_path, capsys, extra, message):
    from sim.cli.main import main

    out = tmp_path / ("r.zarr" if "--no-save" not in extra else "x.zarr")
    code = main(["run", str(DEFAULT), "--paths", "2048", "-q", "--no-band", "--out", str(out), *extra])
    cap = capsys.readouterr()
    assert code == 2
    assert cap.err.startswith("hedgesim: error:") and message in cap.err
    assert not out.exists() and not Path(str(out) + ".partial").exists()


def test_cli_nc_output_rejected(tmp_path, capsys):
    from sim.cli.main import main

    code = main(["run", str(DEFAULT), "-q", "--workers", "1", "--out", str(tmp_path / "r.nc")])
    assert code == 2 and ".zarr" in capsys.readouterr().err


def test_single_machine_path_needs_no_dask():
    """`sim.run` and `hedgesim run` without --workers/--scheduler work with dask made
    unimportable (as without hedgesim[distributed]), and with dask installed they load
    neither dask.distributed nor sim.distributed. (xarray itself imports dask's core
    modules when it builds any Dataset and dask is installed, so `'dask' not in
    sys.modules` cannot hold in an environment that has dask.)"""
    run = ("import sys, sim, sim.cli\n"
           f"cfg = sim.load_config({str(DEFAULT)!r}, overrides={{'simulation.horizon': '1d'}})\n"
           "sim.run(cfg, paths=2048, seed=1)\n"
           f"assert sim.cli.main(['run', {str(DEFAULT)!r}, '--paths', '2048', '--no-band', '--set', 'simulation.horizon=1d', "
           "'--no-save', '-q']) == 0\n")
    hide = ("import sys\nfor m in ('dask', 'distributed'):\n"
            "    sys.modules[m] = None  # import fails, as if not installed\n")
    check = ("bad = [m for m in sys.modules if (m.split('.')[0] == 'distributed' or m.startswith('sim.distributed'))"
             " and sys.modules[m] is not None]\nassert not bad, bad\n")
    for code in (hide + run + check, run + check):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT)
        assert r.returncode == 0, r.stderr.decode()


def test_shards_are_whole_blocks():
    from sim.kernel import rng
    from sim.distributed import default_shard_paths, shards_of

    for paths in (1, 1023, 1024, 5000, 10**6, 10**9):
        for workers in (1, 2, 7):
            s = default_shard_paths(paths, workers)
            assert s % rng.BLOCK == 0 and s >= rng.BLOCK
            sh = shards_of(paths, s)
            assert sh[0][0] == 0 and sum(c for _, c in sh) == paths
            assert all(a % rng.BLOCK == 0 for a, _ in sh)


def test_store_is_result_format_v1(client, tmp_path):
    """A distributed store is a format v1 result (issue 12): consolidated Zarr format 2
    metadata that plain xarray opens without a warning, hedgesim's marker listing every
    file, the v1 attrs, per-path chunks alike along path, and every chunk checked: a
    deleted or damaged chunk is an error naming the variable. A second run replaces it
    (it is hedgesim's own), a store with a user's file in it is refused."""
    import json
    import warnings

    import xarray as xr

    from sim.distributed import run

    out = tmp_path / "v1.zarr"
    cfg = short_config(**{"simulation.save_paths": 700})
    ref = sim.run(cfg, paths=3000, seed=2)
    run(cfg, out, paths=3000, seed=2, client=client, shard_paths=1024, progress=False, log=lambda s: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = xr.open_zarr(out).load()
    assert plain.attrs["format_version"] == 1 and plain.attrs["command"] == "sim.distributed.run(...)"
    assert plain.attrs["created"].endswith("Z") and plain.attrs["complete"] is True
    for c in plain.coords:
        assert {"long_name", "units"} <= set(plain[c].attrs), c
    chunks = {v: plain[v].encoding["chunks"][0] for v in plain.variables if "path" in plain[v].dims}
    assert set(chunks.values()) == {1024}, chunks
    marker = json.loads((out / "hedgesim.json").read_text())
    assert marker["kind"] == "run" and marker["format_version"] == 1
    assert set(marker["files"]) == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {
        "hedgesim.json"}
    assert_same_result(ref, sim.open_result(out))

    logged = []
    run(cfg, out, paths=3000, seed=2, client=client, shard_paths=1024, progress=False, log=logged.append)
    assert any("will be replaced" in s for s in logged)
    (out / "NOTES.txt").write_text("mine")
    with pytest.raises(sim.ResultFileError, match="NOTES.txt"):
        run(cfg, out, paths=3000, seed=2, client=client, shard_paths=1024, progress=False, log=lambda s: None)
    assert (out / "NOTES.txt").exists()

    (out / "liquidated" / "1").unlink()  # the second chunk of 1,024 paths
    with pytest.raises(sim.ResultFileError, match="variable 'liquidated' is damaged"):
        sim.open_result(out)


def test_managed_hedge_distributed(client, tmp_path):
    """A managed hedge (top-ups over a delay, withdrawals, re-hedging, default risk) on two
    workers: per-path variables bitwise those of one process, and the policy summary equal
    (computed from the whole store, not from the first shard)."""
    from sim.distributed import run
    from sim.results.policy_summary import policy_summary_vars

    cfg = short_config(**{"policy.top_up_reserve": 0.05, "policy.top_up_trigger": 3.0, "policy.transfer_delay": "1h",
                          "policy.withdraw_above": 30.0, "policy.rehedge": True, "exchange.default_rate": 2.0,
                          "exchange.recovery_rate": 0.5})
    ref = sim.run(cfg, paths=3000, seed=7)
    ds = run(cfg, tmp_path / "m.zarr", paths=3000, seed=7, client=client, shard_paths=1024, progress=False,
             log=lambda s: None)
    assert_same_result(ref, ds)
    names = policy_summary_vars(ref)
    assert "reserve_used_mean" in names and ref["reserve_used_mean"] > 0
    for v in names:
        np.testing.assert_allclose(ds[v].values, ref[v].values, rtol=1e-9, atol=1e-12, err_msg=v)
