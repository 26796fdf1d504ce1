"""``hedgesim margin --policy``: the (on-exchange, reserve) frontier, end to end on a short
horizon. Static plan (C*, no reserve) meets the target by construction; adding reserve never
raises the probability of losing the hedge on the same paths; the best plan meets the target
and has the least expected total loss among those that do."""

from pathlib import Path

import numpy as np

import sim

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--set", "simulation.horizon=5d", "--set", "policy.transfer_delay=2h", "--set", "exchange.default_rate=0.5",
        "--paths", "4096", "-q"]


def test_frontier_end_to_end(tmp_path, cli):
    out = tmp_path / "f.zarr"
    code, text, err = cli(["margin", ROOT / "configs" / "default.toml", "--policy", "--target", "0.05", "--out", out,
                           *ARGS])
    assert code == 0, err
    assert "least expected total loss meeting the target" in text and f"frontier written to {out}" in text
    ds = sim.open_result(out)
    p = ds["liquidation_probability"].values  # (collateral, reserve, trigger_fraction)
    target = ds.attrs["target"]
    # the static plan: C = C*, no reserve
    assert p[-1, 0, 0] <= target and float(ds["min_reserve"].values[-1]) == 0.0
    # more reserve never loses the hedge more often (same paths), for every collateral and trigger
    assert np.all(np.diff(p, axis=1) <= 1e-12)
    ok = p <= target
    loss = ds["expected_total_loss"].values
    assert ds.attrs["best_expected_total_loss"] == loss[ok].min()
    assert ds.attrs["best_liquidation_probability"] <= target
    # with default risk, keeping less on the exchange lowers the expected exchange loss
    ex = ds["exchange_loss_usd_mean"].values[:, 0, 0]
    assert ex[0] < ex[-1]
    code, shown, err = cli(["show", out])
    assert code == 0 and shown.strip() == text.strip().rsplit("\n", 1)[0].strip()
    # the report draws the frontier
    code, _, err = cli(["report", out, "--out", tmp_path / "rep"])
    assert code == 0, err
    assert (tmp_path / "rep" / "frontier.png").stat().st_size > 10_000
    assert "frontier.png" in (tmp_path / "rep" / "report.html").read_text()


def test_report_of_a_managed_run(tmp_path, cli):
    out = tmp_path / "m.zarr"
    code, text, err = cli(["run", ROOT / "configs" / "managed.toml", "--paths", "2048", "--set",
                           "simulation.horizon=3d", "-q", "--out", out])
    assert code == 0, err
    assert "managed hedge" in text and "expected total loss" in text
    code, _, err = cli(["report", out, "--out", tmp_path / "rep"])
    assert code == 0, err
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "pnl.png" in html and "collateral identity does not hold" in html


def test_policy_needs_one_target(cli):
    code, _, err = cli(["margin", ROOT / "configs" / "default.toml", "--policy", "--target", "0.05", "--target",
                        "0.01", "--no-save", *ARGS])
    assert code == 2 and "one --target" in err
