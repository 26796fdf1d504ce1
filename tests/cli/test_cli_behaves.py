"""Issue 15, item 3: a CLI without rough edges. ``--version``; ``show`` on every kind of
result (or one line and exit 2), also as JSON / CSV; the ``--set`` / ``--sweep`` options
in the header and the result; a note before a result is replaced; the compile note;
labelled stress progress; ``1 thread``; shell completion; ``calibrate --out`` that never
replaces a file it did not write. Small runs throughout (a few thousand paths, 2 days)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import xarray as xr

import sim
from sim.cli import common
from sim.cli.main import main
from sim.cli.stress import scenario_labels

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "configs" / "seed_example.toml"
STRESS = ROOT / "configs" / "stress.toml"
DEFAULT = ROOT / "configs" / "default.toml"
PRICES = ROOT / "data" / "btc_usd_1h_cryptocompare_2021H1.csv.gz"
FUNDING = ROOT / "data" / "bybit_btcusd_inverse_8h_spot_perp_funding_2021H1.csv"
SHORT = ["--set", "simulation.horizon=2d", "-q", "--no-band"]

# kind: the command that writes it ({out} is the result path)
KINDS = {
    "run": ["run", SEED, "--paths", "1024", *SHORT],
    "sweep": ["run", SEED, "--paths", "1024", *SHORT, "--sweep", "position.hedge_ratio=0.5,1"],
    "convergence": ["run", SEED, "--paths", "2048", *SHORT, "--convergence"],
    "margin": ["margin", SEED, "--paths", "2048", *SHORT],
    "stress": ["stress", STRESS, "--paths", "1024", "-q"],
    "frontier": ["margin", DEFAULT, "--policy", "--target", "0.05", "--paths", "2048", "--set",
                 "simulation.horizon=5d", "--set", "market.sigma=1.5", "-q", "--no-band"],
    "replay": ["replay", DEFAULT, "--prices", PRICES, "--funding", FUNDING, "--start", "2021-03-01",
               "--horizon", "3d", "-q"],
    "rolling replay": ["replay", DEFAULT, "--prices", PRICES, "--start", "2021-03-01", "--every", "7d",
                       "--end", "2021-03-29", "--horizon", "3d", "-q"],
    "backtest": ["backtest", DEFAULT, "--prices", PRICES, "--from", "2021-04-01", "--to", "2021-04-22",
                 "--window", "3d", "--calibration-window", "60d", "--paths", "200", "--models", "gbm", "-q"],
}
ROWS = {"run": 1, "sweep": 2, "convergence": 1, "margin": 1, "stress": 7, "frontier": None, "replay": 1,
        "rolling replay": 5, "backtest": 1}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every kind of result, written once by its command when a test first needs it:
    ``results[kind]`` is (path, stdout)."""
    folder = tmp_path_factory.mktemp("kinds")

    class Made(dict):
        def __missing__(self, kind):
            path = folder / (kind.replace(" ", "_") + (".nc" if kind == "rolling replay" else ".zarr"))
            buf, err = io.StringIO(), io.StringIO()
            with redirect_stdout(buf), redirect_stderr(err):
                code = main([str(a) for a in KINDS[kind]] + ["--out", str(path)])
            assert code == 0, (kind, buf.getvalue(), err.getvalue())
            self[kind] = (path, buf.getvalue())
            return self[kind]

    return Made()


def test_version(cli):
    code, out, err = cli(["--version"])
    assert code == 0 and out.strip() == f"hedgesim {sim.results.meta.version()}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_show_prints_the_table_of_every_kind(results, kind, cli):
    path, printed = results[kind]
    code, out, err = cli(["show", path])
    assert code == 0, err
    assert "Traceback" not in err
    table = [ln for ln in printed.strip().splitlines() if not ln.endswith(f"written to {path}")]
    assert out.strip().splitlines() == table  # what the command printed, line for line


@pytest.mark.parametrize("kind", list(KINDS))
def test_show_json_and_csv_of_every_kind(results, kind, cli):
    path, _ = results[kind]
    code, out, err = cli(["show", path, "--format", "json"])
    assert code == 0, err
    doc = json.loads(out)  # stdout is the JSON document and nothing else
    assert doc["result"] == str(path) and doc["values"]
    assert all(set(v) == {"value", "units"} for v in doc["values"].values())
    code, out, err = cli(["show", path, "--format", "csv"])
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    header, body = rows[0], rows[1:]
    assert all(len(r) == len(header) for r in body)
    if ROWS[kind] is not None:
        assert len(body) == ROWS[kind]
    assert all(h.endswith(")") for h in header if "[" in h)  # every value column names its units


def test_show_json_values_and_units(results, cli):
    path, _ = results["run"]
    code, out, _ = cli(["show", path, "--format", "json"])
    doc = json.loads(out)
    ds = sim.open_result(path)
    lp = doc["values"]["liquidation_probability"]
    assert lp == {"value": float(ds["liquidation_probability"]), "units": "1"}
    var = doc["values"]["value_at_risk[portfolio=hedged;level=0.99]"]
    assert var["units"] == "USD"
    assert var["value"] == pytest.approx(float(ds["value_at_risk"].sel(portfolio="hedged", level=0.99)))
    assert doc["kind"] == "run" and doc["paths"] == 1024 and doc["overrides"] == ["simulation.horizon=2d"]


def test_show_csv_has_a_row_per_variant_with_units(results, cli):
    path, _ = results["sweep"]
    code, out, _ = cli(["show", path, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["hedge_ratio (1)"] for r in rows] == ["0.5", "1"]
    assert float(rows[1]["liquidation_probability (1)"]) == float(
        sim.open_result(path)["liquidation_probability"].sel(hedge_ratio=1.0))


def test_show_of_a_dataset_that_is_no_result_kind_is_one_line(tmp_path, cli):
    path = tmp_path / "other.zarr"
    sim.write_result(xr.Dataset({"x": ("i", [1.0, 2.0])}), path)
    code, out, err = cli(["show", path])
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"hedgesim: error: result '{path}': not a result hedgesim can show (none of "
                                        "the variables of a run, margin curve, frontier, stress table, replay or "
                                        "backtest)"]


def test_show_of_a_result_missing_a_variable_is_one_line(results, tmp_path, cli):
    ds = sim.open_result(results["replay"][0]).drop_vars("hedged_pnl")
    path = tmp_path / "damaged.nc"
    sim.write_result(ds, path)
    code, out, err = cli(["show", path])
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"hedgesim: error: result '{path}': cannot be shown as a replay result (KeyError")


def test_overrides_in_the_header_and_the_result(tmp_path, cli):
    out_file = tmp_path / "o.zarr"
    code, out, err = cli(["run", SEED, "--paths", "1024", "--out", out_file, "--set", "market.sigma=1.2", *SHORT,
                          "--sweep", "position.hedge_ratio=0.5,1"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == "overrides: market.sigma=1.2, simulation.horizon=2d"
    assert lines[2] == "sweep: position.hedge_ratio=0.5,1"
    a = sim.open_result(out_file).attrs
    assert json.loads(a["overrides"]) == ["market.sigma=1.2", "simulation.horizon=2d"]
    assert json.loads(a["sweep_overrides"]) == ["position.hedge_ratio=0.5,1"]
    code, out, err = cli(["margin", SEED, "--paths", "2048", "--no-save", "--set", "market.sigma=0.9", *SHORT])
    assert code == 0, err
    assert out.splitlines()[1] == "overrides: market.sigma=0.9, simulation.horizon=2d"


def test_no_overrides_line_without_set(tmp_path, cli):
    code, out, err = cli(["run", SEED, "--paths", "1024", "--no-save", "-q", "--no-band"])
    assert code == 0, err
    assert "overrides:" not in out
    assert "attrs" not in out


def test_replacing_the_default_result_says_so(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(["run", SEED, "--paths", "1024", *SHORT])
    assert code == 0 and "replacing" not in err, err
    code, out, err = cli(["run", SEED, "--paths", "1024", *SHORT, "--set", "market.sigma=1.2"])
    assert code == 0, err
    (line,) = err.strip().splitlines()
    assert line.startswith("hedgesim: replacing results/seed_example.zarr (a hedgesim run result from 20")
    assert line.endswith(" UTC made with --set simulation.horizon=2d); give --out PATH to keep both")
    assert "result written to results/seed_example.zarr" in out
    code, _, err = cli(["run", SEED, "--paths", "1024", *SHORT, "--out", "results/seed_example.zarr"])
    assert "--set market.sigma=1.2" in err and "keep both" not in err  # a path the user chose


def test_compile_note_only_when_the_cache_is_cold(monkeypatch, cli):
    code, _, err = cli(["run", SEED, "--paths", "1024", "--no-save", "--set", "simulation.horizon=2d", "--no-band"])
    assert code == 0 and "compiling" not in err  # compiled in this process (or cached): no note
    assert not common.kernels_cold()
    monkeypatch.setattr(common, "kernels_cold", lambda names=("simulate_chunk",): True)
    code, _, err = cli(["run", SEED, "--paths", "1024", "--no-save", "--set", "simulation.horizon=2d", "--no-band"])
    assert code == 0
    assert err.startswith("hedgesim: compiling kernels (first run only; numba caches them) ...\n")
    code, _, err = cli(["run", SEED, "--paths", "1024", "--no-save", *SHORT])
    assert "compiling" not in err  # -q: nothing


def test_stress_progress_bars_are_labelled(capsys):
    cfg = sim.load_config(STRESS)
    labels = scenario_labels(cfg)
    simulated = [st for st in cfg.stress if st["type"] != "replay"]  # a replay is one path: no bar
    assert len(labels) == len(simulated) + 1 == 6
    assert labels[0] == "baseline (1/6)" and labels[1] == "crash -30 % at day 10 (2/6)"
    bars = common.LabelledBars(labels[:2])
    for done in (512, 1024, 512, 1024):
        bars(done, 1024)
    bars.close()
    err = capsys.readouterr().err
    assert "baseline (1/6)" in err and "crash -30 % at day 10 (2/6)" in err and "simulating" not in err


def test_one_thread_is_singular(cli):
    code, out, err = cli(["run", SEED, "--paths", "1024", "--no-save", "--threads", "1", *SHORT])
    assert code == 0, err
    assert "on 1 thread" in out and "1 threads" not in out


def test_bash_completion(cli, tmp_path):
    code, script, err = cli(["completion", "bash"])
    assert code == 0 and script.startswith("# bash completion for hedgesim")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    f = tmp_path / "hedgesim.bash"
    f.write_text(script)

    def complete(*words):
        prog = (f'source {f}; COMP_WORDS=({" ".join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; '
                '_hedgesim; printf "%s\\n" "${COMPREPLY[@]}"')
        return subprocess.run([bash, "-c", prog], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()

    assert set(complete("hedgesim", "")) >= {"run", "show", "margin", "stress", "completion", "--version"}
    assert complete("hedgesim", "sh") == ["show"]
    assert complete("hedgesim", "show", "r.zarr", "--format", "") == ["text", "json", "csv"]
    assert "--sweep" in complete("hedgesim", "run", "configs/default.toml", "--sw")
    assert complete("hedgesim", "run", "configs/defa") == ["configs/default.toml"]
    assert complete("hedgesim", "completion", "") == ["bash", "zsh"]


def test_zsh_completion(cli):
    code, script, err = cli(["completion", "zsh"])
    assert code == 0 and script.startswith("#compdef hedgesim\n")
    for name in ("run", "margin", "stress", "show", "report", "config", "calibrate", "replay", "backtest"):
        assert f"\n    '{name}:" in script and f"\n        {name})\n" in script
    assert ":format:(text json csv)' \\\n" in script
    assert "'*--set[override a config value]:section.key=value: '" in script


def test_calibrate_out_never_replaces_a_file_it_did_not_write(tmp_path, cli):
    shipped = ROOT / "configs" / "calibrated.toml"
    before = shipped.read_bytes()
    fit = ["calibrate", "--prices", PRICES, "--start", "2021-05-01", "--model", "gbm", "-q"]
    code, out, err = cli([*fit, "--out", shipped])
    assert code == 2 and "give --force to replace it" in err
    mine = tmp_path / "mine.toml"
    mine.write_text("[market]\nsigma = 0.5\n")
    code, out, err = cli([*fit, "--out", mine, "--force"])
    assert code == 2 and "is not a config written by hedgesim calibrate; not replacing it" in err
    assert mine.read_text() == "[market]\nsigma = 0.5\n"
    new = tmp_path / "cal.toml"
    code, out, err = cli([*fit, "--out", new])
    assert code == 0, err
    assert out == f"config written to {new}\n" and new.read_text().startswith("# hedgesim ")
    code, out, err = cli([*fit, "--out", new, "--force"])
    assert code == 0 and f"hedgesim: replacing {new}" in err
    assert shipped.read_bytes() == before
    assert sim.load_config(new).market.model == "gbm"
