"""An adaptive run whose first batch (simulation.paths) is not a whole number of random
blocks: the batches still start on blocks, and the result is bitwise the first N paths of
the budget's run (was a ValueError about shard starts)."""

from pathlib import Path

import numpy as np

import sim

ROOT = Path(__file__).resolve().parents[2]


def test_first_batch_not_a_multiple_of_the_block():
    cfg = sim.load_config(ROOT / "configs" / "default.toml", overrides={
        "simulation.horizon": "1d", "simulation.paths": 3000, "simulation.max_paths": 8192,
        "simulation.target_se": 1e-6})
    ds = sim.run(cfg)
    assert ds.sizes["path"] == 8192
    full = sim.run(cfg.replace({"simulation.target_se": None, "simulation.paths": 8192}))
    np.testing.assert_array_equal(ds["hedged_pnl"].values, full["hedged_pnl"].values)
