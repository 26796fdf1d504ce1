"""The bootstrap model's clear errors: each is one ConfigError line naming the field and
what is allowed (the CLI prints it and exits with status 2)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "btc_usd_1h_cryptocompare_2021H1.csv.gz"
BOOT = {"market.model": "bootstrap", "market.history": str(SAMPLE), "simulation.horizon": "2d"}


def write_bars(path: Path, n: int, step_h: int = 1) -> Path:
    """A generic OHLC CSV: n bars of ``step_h`` hours (time = bar open)."""
    t0 = np.datetime64("2022-01-01T00:00")
    lines = ["time,open,high,low,close"]
    for k in range(n):
        t = t0 + np.timedelta64(k * step_h, "h")
        px = 100.0 + k % 7
        lines.append(f"{t},{px},{px + 1},{px - 1},{px}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_history_file():
    with pytest.raises(ConfigError, match=r"market.history = .*nowhere.csv.*file not found"):
        load_config(None, overrides={**BOOT, "market.history": "nowhere.csv"})


def test_history_relative_to_the_config_folder(tmp_path):
    write_bars(tmp_path / "bars.csv", 200)
    (tmp_path / "c.toml").write_text('[market]\nmodel = "bootstrap"\nhistory = "bars.csv"\n'
                                     '[simulation]\nhorizon = "2d"\n')
    cfg = load_config(tmp_path / "c.toml")
    assert Path(cfg.market.history) == tmp_path / "bars.csv"
    ds = sim.run(cfg, paths=1024, seed=1)
    assert "198 bars of 1 h" in ds.attrs["history"]  # 200 rows, the open-labelled last one dropped


def test_unreadable_history_file(tmp_path):
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(b"\x00\x01 this is not a table"))
    cfg = load_config(None, overrides={**BOOT, "market.history": str(bad)})
    with pytest.raises(ConfigError, match=r"market.history = .*bad.csv.gz.*cannot be read as a price file"):
        sim.run(cfg, paths=16)


def test_no_history_given():
    cfg = load_config(None, overrides={"market.model": "bootstrap"})
    with pytest.raises(ConfigError, match=r"market.history: needed by market.model = \"bootstrap\""):
        sim.run(cfg, paths=16)


def test_bar_step_must_equal_dt():
    cfg = load_config(None, overrides={**BOOT, "simulation.dt": "2h", "market.block": "2h",
                                       "funding.interval": "8h"})
    with pytest.raises(ConfigError, match=r"simulation.dt = '2h': .*bars of market.history .* are 1h; "
                                          r"allowed: simulation.dt = '1h'"):
        sim.run(cfg, paths=16)


def test_history_shorter_than_the_horizon(tmp_path):
    cfg = load_config(None, overrides={**BOOT, "market.history": str(write_bars(tmp_path / "b.csv", 30))})
    with pytest.raises(ConfigError, match=r"28 returns of consecutive bars, fewer than the horizon \(48 steps\)"):
        sim.run(cfg, paths=16)


def test_block_must_be_whole_steps():
    with pytest.raises(ConfigError, match=r"market.block = \"90min\": not a whole number of steps"):
        load_config(None, overrides={**BOOT, "market.block": "90min"})


@pytest.mark.parametrize("key,value,pattern", [
    ("simulation.importance", "auto", r"simulation.importance = \"auto\": not available with market.model = "
                                      r"\"bootstrap\".*allowed: \"off\""),
    ("simulation.antithetic", True, r"simulation.antithetic = true: not available .*allowed: false"),
    ("market.mu", 0.3, r"market.mu = 0.3: market.demean = false keeps the sample's own drift"),
    ("market.bootstrap", "moving", r"market.bootstrap = \"moving\": unknown value; allowed: one of \"stationary\", "
                                   r"\"fixed\""),
    ("market.history_end", "yesterday", r"market.history_end = \"yesterday\": not a date or time"),
])
def test_rejected_settings(key, value, pattern):
    over = {**BOOT, key: value}
    if key == "market.mu":
        over["market.demean"] = False
    with pytest.raises(ConfigError, match=pattern):
        load_config(None, overrides=over)


def test_empty_slice():
    cfg = load_config(None, overrides={**BOOT, "market.history_start": "2030-01-01"})  # a TOML date
    with pytest.raises(ConfigError, match=r"0 bar\(s\) between 2030-01-01 and end"):
        sim.run(cfg, paths=16)


def test_unused_parametric_keys_are_noted():
    cfg = load_config(None, overrides={**BOOT, "market.sigma": 0.9})
    assert any("market.sigma not used" in n for n in cfg.notes)


def test_cli_end_to_end(cli, tmp_path):
    code, out, err = cli(["run", ROOT / "configs" / "bootstrap.toml", "--paths", "2048", "--set",
                          'simulation.horizon="3d"', "--out", tmp_path / "b.zarr", "-q"])
    assert code == 0, err
    assert "model bootstrap" in out
    assert "history resampled: data/btc_usd_1h_cryptocompare_2021H1.csv.gz: 2021-01-01 00:00 UTC to " \
           "2021-07-01 00:00 UTC" in out or "btc_usd_1h_cryptocompare_2021H1.csv.gz: 2021-01-01" in out
    code, out, err = cli(["run", ROOT / "configs" / "bootstrap.toml", "--paths", "16", "--set",
                          "simulation.importance=auto"])
    assert code == 2 and "simulation.importance" in err
