"""End-to-end tests of the command line (issue 2): bad inputs, happy paths, atomic writes.

Almost everything calls ``sim.cli.main([...])`` in-process (fast: numba's cache and the
imports are shared); one test runs the installed ``hedgesim`` console script in a
subprocess to check the real exit status and that no traceback reaches the user.

Every bad input must: exit with status 2, print exactly one line on stderr that starts
with ``hedgesim: error:`` and names the field with its allowed range or a hint, print
nothing on stdout, show no traceback, and leave no file behind (neither the result nor a
temporary ``.<name>.tmp-*``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sim

ROOT = Path(__file__).resolve().parents[2]
SEED_EXAMPLE = ROOT / "configs" / "seed_example.toml"
DEFAULT = ROOT / "configs" / "default.toml"
SHORT = ["--set", "simulation.horizon=2d", "-q"]  # 48 hourly steps: fast




def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- bad inputs
#
# Each case: (id, argv builder taking tmp_path, substrings the message must contain).
# ``{out}`` in an argv is the result path the run would write: tmp_path / "r.zarr".

TIERS_BOTH = '[{limit = 100, rate = 0.005}, {limit = 1000, rate = 0.01, deduction = 0.5}]'

BAD_INPUTS = [
    ("negative sigma",
     lambda t: ["run", SEED_EXAMPLE, "--set", "market.sigma=-0.1"],
     ["market.sigma = -0.1", "out of range", "[0, 5]"]),
    ("unknown model",
     lambda t: ["run", SEED_EXAMPLE, "--set", "market.model=heston"],
     ['market.model = "heston"', '"gbm", "merton"']),
    ("typo in a key",
     lambda t: ["run", SEED_EXAMPLE, "--set", "market.sigmaa=0.5"],
     ["market.sigmaa", "unknown key", 'did you mean "sigma"']),
    ("typo in a key in the file",
     lambda t: ["run", write(t / "c.toml", "[funding]\nhalf_lif = \"3d\"\n")],
     ["funding.half_lif", "unknown key", 'did you mean "half_life"']),
    ("unknown section in the file",
     lambda t: ["run", write(t / "c.toml", "[markt]\nsigma = 0.5\n")],
     ["[markt]", "unknown section", "market, funding, basis, position, exchange, policy, simulation, output"]),
    ("unknown section in --set",
     lambda t: ["run", SEED_EXAMPLE, "--set", "markt.sigma=0.5"],
     ["[markt]", "unknown section", "market, funding"]),
    ("horizon shorter than a step",
     lambda t: ["run", SEED_EXAMPLE, "--set", "simulation.horizon=30min"],
     ['simulation.horizon = "30min"', "shorter than one step", 'simulation.dt = "1h"']),
    ("horizon not a whole number of steps",
     lambda t: ["run", SEED_EXAMPLE, "--set", "simulation.horizon=90min"],
     ['simulation.horizon = "90min"', "not a whole number of steps", 'simulation.dt = "1h"', "1.5 steps"]),
    ("funding interval not a multiple of dt",
     lambda t: ["run", SEED_EXAMPLE, "--set", "funding.interval=100min"],
     ['funding.interval = "100min"', "not a whole number of steps", 'simulation.dt = "1h"']),
    ("funding interval shorter than dt",
     lambda t: ["run", SEED_EXAMPLE, "--set", "simulation.dt=8h", "--set", "funding.interval=1h",
                "--set", "simulation.horizon=2d"],
     ['funding.interval = "1h"', "not a whole number of steps", 'simulation.dt = "8h"']),
    ("correlation matrix not positive definite",
     lambda t: ["run", SEED_EXAMPLE, "--set", "funding.stationary_std=0.0003", "--set", "basis.stationary_std=0.001",
                "--set", "funding.corr_price=0.9", "--set", "basis.corr_price=0.9",
                "--set", "basis.corr_funding=-0.9"],
     ["not positive definite", "funding.corr_price = 0.9", "basis.corr_price = 0.9",
      "basis.corr_funding = -0.9", "1 - a^2 - b^2 - c^2 + 2abc > 0"]),
    ("missing config file",
     lambda t: ["run", t / "nope.toml"],
     ["config file", "nope.toml", "not found"]),
    ("config path is a directory",
     lambda t: ["run", t],
     ["config file", "is a directory", ".toml"]),
    ("invalid TOML",
     lambda t: ["run", write(t / "c.toml", "[market]\nsigma = 0.5 0.6\n")],
     ["config file", "c.toml", "not valid TOML", "line 2"]),
    ("config file not UTF-8",
     lambda t: ["run", t / "c.toml"] if (t / "c.toml").write_bytes(b"\xff\xfe[market]") else [],
     ["config file", "cannot be read", "utf-8"]),
    ("duration in months",
     lambda t: ["run", SEED_EXAMPLE, "--set", "simulation.horizon=3 months"],
     ['simulation.horizon = "3 months"', "not a duration", 's, min, h, d, w', '"15min"']),
    ("duration 5m (minutes or months?)",
     lambda t: ["run", SEED_EXAMPLE, "--set", "simulation.dt=5m"],
     ['simulation.dt = "5m"', "not a duration", 'use "min" for minutes']),
    ("duration given as a bare number",
     lambda t: ["run", SEED_EXAMPLE, "--set", "simulation.dt=3600"],
     ["simulation.dt = 3600", "expected a duration string", '"1h"']),
    ("dt below one second",
     lambda t: ["run", SEED_EXAMPLE, "--set", "simulation.dt=0.5s"],
     ['simulation.dt = "0.5s"', "out of range", "[1s, 30d]"]),
    ("string for a number",
     lambda t: ["run", SEED_EXAMPLE, "--set", "market.sigma=high"],
     ['market.sigma = "high"', "expected a number in [0, 5]"]),
    ("string for a number in the file",
     lambda t: ["run", write(t / "c.toml", '[market]\nspot = "60k"\n')],
     ['market.spot = "60k"', "expected a number in (0, 1e+09]"]),
    ("fraction for a whole number",
     lambda t: ["run", write(t / "c.toml", '[simulation]\nsave_paths = 2.5\n')],
     ["simulation.save_paths = 2.5", "expected a whole number in [0, 10000]"]),
    ("NaN for a number",
     lambda t: ["run", SEED_EXAMPLE, "--set", "market.sigma=nan"],
     ["market.sigma = nan", "finite", "[0, 5]"]),
    ("section given as a value",
     lambda t: ["run", write(t / "c.toml", "market = 3\n")],
     ["market", "expected a table"]),
    ("zero paths",
     lambda t: ["run", SEED_EXAMPLE, "--paths", "0"],
     ["simulation.paths = 0", "out of range", "[1, 1e+09]"]),
    ("negative seed",
     lambda t: ["run", SEED_EXAMPLE, "--seed", "-1"],
     ["simulation.seed = -1", "out of range"]),
    ("collateral so small the hedge is liquidated at once",
     lambda t: ["run", SEED_EXAMPLE, "--set", "position.collateral=0.004"],
     ["position.collateral = 0.004 BTC", "maintenance margin", "liquidated at once", "Post more collateral"]),
    ("linear collateral below maintenance",
     lambda t: ["run", SEED_EXAMPLE, "--set", "position.contract=linear", "--set", "position.contract_size=0.001",
                "--set", "position.collateral=100"],
     ["position.collateral = 100 USD", "liquidated at once"]),
    ("hedge smaller than one contract",
     lambda t: ["run", SEED_EXAMPLE, "--set", "position.stack=0.00001", "--set", "position.contract_size=100"],
     ["position.hedge_ratio = 1", "smaller than one contract", "position.contract_size = 100 USD"]),
    ("hedge ratio above 10",
     lambda t: ["run", SEED_EXAMPLE, "--set", "position.hedge_ratio=11"],
     ["position.hedge_ratio = 11", "out of range", "[0, 10]"]),
    ("collateral hedged on a linear contract",
     lambda t: ["run", SEED_EXAMPLE, "--set", "position.contract=linear", "--set", "position.collateral=5000",
                "--set", "position.hedge_collateral=true"],
     ["position.hedge_collateral = true", "inverse"]),
    ("--set without =",
     lambda t: ["run", SEED_EXAMPLE, "--set", "market.sigma"],
     ["--set market.sigma", "expected section.key=value", "--set market.sigma=0.8"]),
    ("--set without a section",
     lambda t: ["run", SEED_EXAMPLE, "--set", "sigma=0.8"],
     ["--set sigma=0.8", "expected section.key", "market.sigma"]),
    ("--out with an unknown suffix",
     lambda t: ["run", SEED_EXAMPLE, "--out", t / "r.csv"],
     ["r.csv", 'unknown format ".csv"', '".zarr" or ".nc"']),
    ("output.path with an unknown suffix",
     lambda t: ["run", SEED_EXAMPLE, "--set", f'output.path="{t / "r.parquet"}"'],
     ["r.parquet", 'unknown format ".parquet"', '".zarr" or ".nc"']),
    ("--out inside a file",
     lambda t: ["run", SEED_EXAMPLE, "--out", write(t / "c.toml", "") / "r.zarr"],
     ["r.zarr", "cannot be written", "not a directory"]),
    ("maintenance margin and tiers both set",
     lambda t: ["run", SEED_EXAMPLE, "--set", f"exchange.tiers={TIERS_BOTH}"],
     ["exchange.maintenance_margin", "exchange.tiers", "both set"]),
    ("jump parameters with model gbm",
     lambda t: ["run", SEED_EXAMPLE, "--set", "market.jump_intensity=5"],
     ["market.jump_intensity = 5", 'market.model = "merton"', '"gbm"']),
    ("tier limits decreasing",
     lambda t: ["run", write(t / "c.toml", "[exchange]\ntiers = [{limit = 100, rate = 0.005}, "
                                            "{limit = 50, rate = 0.01}]\n")],
     ["exchange.tiers[1].limit = 50", "must increase", "previous 100"]),
    ("tier rates decreasing",
     lambda t: ["run", write(t / "c.toml", "[exchange]\ntiers = [{limit = 100, rate = 0.01}, "
                                            "{limit = 500, rate = 0.005}]\n")],
     ["exchange.tiers[1].rate = 0.005", "must not decrease"]),
    ("tier without a rate",
     lambda t: ["run", write(t / "c.toml", "[exchange]\ntiers = [{limit = 100}]\n")],
     ["exchange.tiers[0].rate", "missing"]),
    ("--threads 0",
     lambda t: ["run", SEED_EXAMPLE, "--threads", "0"],
     ["--threads 0", "at least 1"]),
    ("show of a missing file",
     lambda t: ["show", t / "missing.zarr"],
     ["missing.zarr", "not found"]),
    ("show of a corrupt .zarr",
     lambda t: ["show", t / "bad.zarr"] if write((t / "bad.zarr").mkdir() or t / "bad.zarr" / "zarr.json",
                                                 "{not json") else [],
     ["bad.zarr", "cannot be read"]),
    ("show of an empty .zarr directory",
     lambda t: ["show", t / "empty.zarr"] if not (t / "empty.zarr").mkdir() else [],
     ["empty.zarr", "cannot be read"]),
    ("show of a corrupt .nc",
     lambda t: ["show", write(t / "bad.nc", "this is not netCDF")],
     ["bad.nc", "cannot be read"]),
    ("show of a file with an unknown suffix",
     lambda t: ["show", write(t / "r.csv", "a,b\n")],
     ["r.csv", 'unknown format ".csv"', '".zarr" or ".nc"']),
]


@pytest.mark.parametrize("make_argv, expected", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_exits_2_with_one_clear_line_and_writes_nothing(make_argv, expected, tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)  # the default result path (results/<config>.zarr) lands in tmp_path
    argv = make_argv(tmp_path)
    if argv[0] == "run":
        if "--out" not in argv and not any("output.path" in str(a) for a in argv):
            argv += ["--out", tmp_path / "r.zarr"]
        argv += ["--paths", "64", "-q"] if "--paths" not in argv else ["-q"]
    before = files_under(tmp_path)

    code, out, err = cli(argv)

    assert code == 2, f"exit status {code}; stderr: {err}"
    assert "Traceback" not in out + err
    assert out == ""
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    assert lines[0].startswith("hedgesim: error: ")
    for text in expected:
        assert text in lines[0], f"{text!r} missing from: {lines[0]}"
    # nothing written: not the result, not a temporary, not a results/ folder
    assert files_under(tmp_path) == before
    assert not (tmp_path / "r.zarr").exists()
    assert not list(tmp_path.rglob(".*.tmp-*"))


def test_bad_inputs_are_many_and_distinct():
    assert len({c[0] for c in BAD_INPUTS}) == len(BAD_INPUTS) >= 12


def test_console_script_exits_2_without_traceback(tmp_path):
    """The installed entry point, in a real process: exit status 2, one line, no file."""
    script = Path(sys.executable).with_name("hedgesim")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "sim"]
    bad = write(tmp_path / "bad.toml", '[market]\nsigma = -1.0\n[simulation]\nhorizon = "2d"\n')
    out = tmp_path / "r.zarr"
    proc = subprocess.run([*cmd, "run", str(bad), "--out", str(out), "--paths", "64"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "hedgesim: error: market.sigma = -1.0: out of range; allowed [0, 5] 1/sqrt(yr)"]
    assert files_under(tmp_path) == {"bad.toml"}


def test_argparse_usage_error_exits_2(cli):
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", "many"])
    assert code == 2
    assert "argument --paths: invalid int value: 'many'" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- happy paths


def test_run_writes_zarr_and_show_prints_the_same_summary(tmp_path, cli):
    out_file = tmp_path / "x.zarr"
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", "2048", "--seed", "3", "--out", out_file,
                          "--set", "simulation.horizon=2d"])
    assert code == 0, err
    assert "Traceback" not in err
    assert out_file.is_dir()
    assert files_under(tmp_path) and not list(tmp_path.glob(".*"))  # no temporary left next to it
    for text in ["liquidation probability", "95 % CI", "liquidation price", "62,842.11 USD", "USD",
                 "VaR 95 %", "VaR 99 %", "VaR 99.9 %", "ES 99 %", "hedge effectiveness", "expected funding",
                 "2,048 paths x 48 steps of 1h = 2d", "seed 3", "path-steps/s", f"result written to {out_file}"]:
        assert text in out, f"{text!r} missing from the summary:\n{out}"

    code, shown, err = cli(["show", out_file])
    assert code == 0, err
    # the same table, number for number (the run adds only the "result written" line)
    assert shown.strip().splitlines() == out.strip().splitlines()[:-1]


def test_progress_bar_goes_to_stderr_and_table_to_stdout(tmp_path, cli):
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", "1024", "--no-save", "--set", "simulation.horizon=1d"])
    assert code == 0
    assert "simulating" in err and "liquidation probability" not in err
    assert "liquidation probability" in out and "simulating" not in out


def test_run_default_output_path_is_results_config_name(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", "512", *SHORT])
    assert code == 0, err
    assert (tmp_path / "results" / "seed_example.zarr").is_dir()
    assert files_under(tmp_path / "results") >= {"seed_example.zarr"}
    assert not list(tmp_path.rglob(".*.tmp-*"))
    assert "result written to results/seed_example.zarr" in out


def test_no_save_writes_nothing(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(["run", DEFAULT, "--paths", "1024", "--no-save", *SHORT])
    assert code == 0, err
    assert "liquidation probability" in out
    assert "result written" not in out
    assert files_under(tmp_path) == set()  # default.toml's output.path is not used either


def test_set_overrides_are_validated_and_stored_in_the_result(tmp_path, cli):
    out_file = tmp_path / "s.zarr"
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", "1024", "--seed", "5", "--out", out_file,
                          "--set", "market.sigma=1.2", "--set", "position.collateral=0.5", *SHORT])
    assert code == 0, err
    assert "collateral 0.5000 BTC" in out
    ds = sim.open_result(out_file)
    stored = json.loads(ds.attrs["config"])
    assert stored["market"]["sigma"] == 1.2
    assert stored["position"]["collateral"] == 0.5
    assert stored["simulation"]["horizon"] == "2d"
    assert stored["simulation"]["paths"] == 1024 and ds.attrs["paths"] == 1024
    assert stored["simulation"]["seed"] == 5 and ds.attrs["seed"] == 5
    assert float(ds["collateral_posted"]) == 0.5
    # the stored config reproduces the run exactly
    again = sim.run(sim.config.from_dict(stored))
    for name in ["index_T", "hedged_pnl", "liquidated", "required_collateral"]:
        np.testing.assert_array_equal(again[name].values, ds[name].values)


def _assert_same_data(a: xr.Dataset, b: xr.Dataset) -> None:
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        assert a[name].dims == b[name].dims, name
        assert a[name].dtype == b[name].dtype, (name, a[name].dtype, b[name].dtype)
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
        assert a[name].attrs["units"] == b[name].attrs["units"], name
    for name in a.coords:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    assert a.attrs["config"] == b.attrs["config"]
    assert a.attrs["seed"] == b.attrs["seed"]


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_result_file_round_trips(tmp_path, suffix):
    cfg = sim.load_config(SEED_EXAMPLE, overrides={"simulation.horizon": "2d", "position.collateral": 0.02})
    path = tmp_path / f"r{suffix}"
    ds = sim.run(cfg, paths=1500, seed=11, out=path)  # 1,500: a partial last random block
    assert ds["liquidated"].any() and not ds["liquidated"].all()  # NaN and numbers in liquidation_time
    back = sim.open_result(path)
    _assert_same_data(ds, back)
    xr.testing.assert_identical(ds, back)  # values, dtypes, coords, units and all attrs


def test_nc_result_is_shown_by_the_cli(tmp_path, cli):
    out_file = tmp_path / "r.nc"
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", "1024", "--out", out_file, *SHORT])
    assert code == 0, err
    assert out_file.is_file()
    code, shown, err = cli(["show", out_file])
    assert code == 0, err
    assert shown.strip().splitlines() == out.strip().splitlines()[:-1]


# --------------------------------------------------------------------------- atomic writes


def _failing_to_zarr(monkeypatch):
    """Make Dataset.to_zarr write part of the store under its (temporary) name, then fail."""
    real = xr.Dataset.to_zarr
    seen = []

    def to_zarr(self, store, *args, **kwargs):
        seen.append(Path(store))
        real(self[["index_T"]], store, *args, **kwargs)  # half-written store on disk
        assert Path(store).exists()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_zarr", to_zarr)
    return seen


def test_failed_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch, cli):
    seen = _failing_to_zarr(monkeypatch)
    out_file = tmp_path / "x.zarr"
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", "512", "--out", out_file, *SHORT])
    assert code == 2
    assert "Traceback" not in out + err
    assert err.strip().splitlines() == [f"hedgesim: error: result '{out_file}': cannot be written "
                                        "(No space left on device)"]
    assert seen and seen[0].name.startswith(".x.zarr.tmp-")  # it wrote under a temporary name ...
    assert files_under(tmp_path) == set()  # ... and cleaned it up


def test_failed_write_keeps_the_previous_result(tmp_path, monkeypatch):
    cfg = sim.load_config(SEED_EXAMPLE, overrides={"simulation.horizon": "2d"})
    out_file = tmp_path / "x.zarr"
    first = sim.run(cfg, paths=512, seed=1, out=out_file)
    _failing_to_zarr(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        sim.run(cfg, paths=512, seed=2, out=out_file)
    assert {p.name for p in tmp_path.iterdir()} == {"x.zarr"}
    monkeypatch.undo()
    _assert_same_data(first, sim.open_result(out_file))


def test_interrupted_run_writes_nothing(tmp_path, monkeypatch, cli):
    from sim import engine

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "simulate", interrupted)
    code, out, err = cli(["run", SEED_EXAMPLE, "--out", tmp_path / "x.zarr", *SHORT])
    assert code == 130
    assert "interrupted; no result written" in err and "Traceback" not in err
    assert files_under(tmp_path) == set()


def test_importance_sampled_run_prints_weighted_summary(tmp_path, cli):
    """`run --set simulation.importance=auto` (a single variant and a sweep) prints the
    IS-weighted table, names the tilt and the effective sample size, and `show` agrees."""
    out_file = tmp_path / "is.zarr"
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", "4096", "--seed", "5", "--out", out_file,
                          "--set", "simulation.horizon=2d", "--set", "simulation.importance=auto"])
    assert code == 0, err
    for text in ["importance sampling", "effective sample size", "sigma sqrt(T)", "ES 99 % hedged - unhedged"]:
        assert text in out, f"{text!r} missing:\n{out}"
    code, shown, err = cli(["show", out_file])
    assert code == 0, err
    assert shown.strip().splitlines() == out.strip().splitlines()[:-1]
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", "2048", "--no-save", "--set", "simulation.horizon=2d",
                          "--set", "simulation.importance=auto", "--sweep", "position.hedge_ratio=0.5,1"])
    assert code == 0, err
    assert "vs first" in out and "hedge_ratio=0.5" in out
