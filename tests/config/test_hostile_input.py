"""Hostile input to the simulating commands (issue 12, item 3): each case is one line on
stderr starting "hedgesim: error:", exit status 2 and nothing written, where it used to be
a traceback (exit 1) or a failure after the whole run."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim.config.durations import SHOW_MAX, show_value

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / "configs" / "default.toml"
SHORT = ["--paths", "1024", "--set", 'simulation.horizon="1d"', "-q"]


def one_line(cli, argv, tmp_path, *needles):
    """Run ``hedgesim argv --out tmp/r.zarr``: exit 2, one error line containing every
    needle, nothing on stdout and nothing left in ``tmp_path``."""
    before = sorted(tmp_path.rglob("*"))
    code, out, err = cli([*argv, "--out", tmp_path / "r.zarr"])
    lines = err.strip().splitlines()
    assert code == 2 and out == "", err
    assert len(lines) == 1 and lines[0].startswith("hedgesim: error:"), err
    for n in needles:
        assert n in lines[0], lines[0]
    assert sorted(tmp_path.rglob("*")) == before
    return lines[0]


@pytest.mark.parametrize("text", ["a = " + "[" * 5000 + "]" * 5000, "a = " + "{b = " * 600 + "1" + "}" * 600,
                                  "[market]\nsigma = " + "[" * 20 + "]" * 20])
def test_deeply_nested_toml_names_the_file(cli, tmp_path, text):
    """tomllib recursed until RecursionError (a traceback); nesting beyond 16 levels is refused."""
    cfg = tmp_path / "deep.toml"
    cfg.write_text(text + "\n")
    one_line(cli, ["run", cfg, *SHORT], tmp_path, f"config file {cfg}", "nested too deeply (at most 16 levels)")


def test_deeply_nested_set_value_names_the_option(cli, tmp_path):
    one_line(cli, ["run", CFG, *SHORT, "--set", "market.sigma=" + "[" * 3000 + "]" * 3000], tmp_path,
             "--set market.sigma", "nested too deeply")
    one_line(cli, ["run", CFG, *SHORT, "--sweep", "position.hedge_ratio=" + "[" * 3000], tmp_path, "--sweep")


def test_deeply_nested_dict_through_the_api():
    deep: list = []
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(sim.ConfigError, match="nested too deeply"):
        sim.config.Config.from_user({"market": {"sigma": deep}})


@pytest.mark.parametrize("size, shown", [("1e-320", "inf contracts"), ("1e-15", "6.9e+19 contracts")])
def test_contract_count_is_bounded_before_the_run(cli, tmp_path, size, shown):
    """contract_size = 1e-320 raised OverflowError; 1e-15 overflowed int64 when the result
    was written, after the whole run. At most 1e12 contracts (schema doc of contract_size)."""
    msg = one_line(cli, ["run", CFG, *SHORT, "--set", f"position.contract_size={size}"], tmp_path,
                   "position.contract_size", shown, "at most 1e+12 contracts")
    assert "69000 USD" in msg
    assert "1e12 contracts" in sim.config.SCHEMA["position"]["contract_size"].doc


def test_contract_bound_applies_to_sweep_variants_and_large_stacks(cli, tmp_path):
    one_line(cli, ["run", CFG, *SHORT, "--sweep", "position.contract_size=1,1e-9"], tmp_path,
             "sweep variant", "at most 1e+12 contracts")
    with pytest.raises(sim.ConfigError, match="at most 1e"):
        sim.load_config(CFG, overrides={"position.stack": 1e7, "market.spot": 1e9})
    sim.load_config(CFG, overrides={"position.stack": 1e4, "market.spot": 1e6})  # 1e10 contracts: fine


@pytest.mark.parametrize("value, needle", [("1" + "0" * 400, "must be a finite number"),
                                           ("-" + "1" * 5000, "an integer of more than 4300 digits"),
                                           ("1979-05-27", "expected a number"), ("[1, 2]", "expected a number")])
def test_values_of_the_wrong_size_or_type(cli, tmp_path, value, needle):
    one_line(cli, ["run", CFG, *SHORT, "--set", f"market.sigma={value}"], tmp_path, "market.sigma", needle)


@pytest.mark.parametrize("values, needle", [("1979-05-27,1980-01-01", "not a number, string or boolean"),
                                            ("[1],[2]", "not a number, string or boolean"),
                                            ("0.5,0.5", "values repeat")])
def test_sweep_values_must_be_distinct_scalars(cli, tmp_path, values, needle):
    one_line(cli, ["run", CFG, *SHORT, "--sweep", f"position.hedge_ratio={values}"], tmp_path, needle)


def test_a_non_string_preset_is_refused(cli, tmp_path):
    """A swept exchange.preset of numbers was a TypeError in load_preset."""
    one_line(cli, ["run", CFG, *SHORT, "--sweep", "exchange.preset=1.0,2.0"], tmp_path, "exchange.preset = 1.0")


@pytest.mark.parametrize("target, needle", [("1e-17", "1e-9 <= P < 0.5"), ("0", "1e-9 <= P < 0.5"),
                                            ("0.5", "1e-9 <= P < 0.5"), ("nan", "--target nan"),
                                            ("inf", "--target inf"), ("-0.1", "--target -0.1")])
def test_margin_targets_are_checked_before_simulating(cli, tmp_path, target, needle, monkeypatch):
    """--target 1e-17 failed writing paths_needed after the whole run."""
    from sim import engine

    monkeypatch.setattr(engine, "simulate", lambda *a, **k: pytest.fail("simulated before checking --target"))
    one_line(cli, ["margin", CFG, *SHORT, "--target", target], tmp_path, needle)


def test_a_repeated_margin_target_is_refused(cli, tmp_path):
    one_line(cli, ["margin", CFG, *SHORT, "--target", "0.01", "--target", "0.01"], tmp_path, "given twice")


def test_margin_target_bounds_are_allowed(cli, tmp_path):
    code, out, err = cli(["margin", CFG, *SHORT, "--target", "1e-9", "--target", "0.4999", "--no-save"])
    assert code == 0, err


@pytest.mark.parametrize("argv, needle", [
    (["--threads", "0"], "--threads 0"), (["--chunk", "-1"], "--chunk -1"), (["--paths", "0"], "simulation.paths"),
    (["--paths", str(10**12)], "simulation.paths"), (["--seed", "-1"], "simulation.seed"),
    (["--seed", str(2**64)], "simulation.seed"), (["--set", "market.sigma=nan"], "market.sigma"),
    (["--set", 'simulation.dt="0.5s"'], "simulation.dt"), (["--set", "="], "--set ="),
])
def test_absurd_options(cli, tmp_path, argv, needle):
    one_line(cli, ["run", CFG, *SHORT, *argv], tmp_path, needle)


@pytest.mark.parametrize("make", ["missing", "directory", "binary", "utf16", "empty-name"])
def test_unreadable_config_files(cli, tmp_path, make):
    p = tmp_path / "c.toml"
    if make == "directory":
        p.mkdir()
    elif make == "binary":
        p.write_bytes(bytes(range(256)) * 4)
    elif make == "utf16":
        p.write_text("[market]\nsigma = 0.5\n", encoding="utf-16")
    elif make == "empty-name":
        p = Path("")
    one_line(cli, ["run", p, *SHORT], tmp_path, "config file")


def test_long_values_are_cut_in_messages(cli, tmp_path):
    msg = one_line(cli, ["run", CFG, *SHORT, "--set", "market.model=" + "x" * 100_000], tmp_path, "market.model")
    assert len(msg) < 400
    assert len(show_value("y" * 10_000)) <= SHOW_MAX
    assert show_value(10**5000) == "<int>"


@pytest.mark.parametrize("argv, needle", [
    (["--set", "position.hedge_ratio=0"], "no hedge to margin (position.hedge_ratio = 0"),
    (["--sweep", "position.hedge_ratio=0,1"], "sweep variant (hedge_ratio=0.0): no hedge to margin"),
])
def test_margin_without_a_hedge_is_refused(cli, tmp_path, argv, needle):
    """With no position every required_collateral is NaN: the curve had a NaN collateral level."""
    one_line(cli, ["margin", CFG, *SHORT, *argv], tmp_path, needle)


def test_a_preset_name_too_long_for_a_file_name(cli, tmp_path):
    one_line(cli, ["run", CFG, *SHORT, "--set", "exchange.preset=" + "x" * 5000], tmp_path, "unknown preset")


def test_a_sweep_of_too_many_variants_is_refused_at_once(cli, tmp_path):
    """1,000 x 1,000 values spent about an hour validating variants one by one."""
    values = ",".join(f"{0.001 * (i + 1):.3f}" for i in range(1000))
    fees = ",".join(f"{1e-6 * i:.6f}" for i in range(1000))
    one_line(cli, ["run", CFG, *SHORT, "--sweep", f"position.hedge_ratio={values}", "--sweep",
                   f"exchange.taker_fee={fees}"], tmp_path, "1,000,000 variants (1000 x 1000); at most 10,000")
