"""Golden hashes: per-path outputs bitwise unchanged by refactoring.

Four configurations (the default Merton + OU model, a 12-variant sweep, an
importance-sampled run, Kou jumps with discrete monitoring and antithetic pairs) are simulated on a few thousand paths; the SHA-256 of every
variable with a ``path`` dimension (and of every summary variable) is compared with the
hashes recorded in ``tests/golden_hashes.json``. Any change to the random streams, the
kernel arithmetic or the account must re-record them on purpose:

    HEDGESIM_RECORD_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

and say so in the commit message.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

import sim

ROOT = Path(__file__).resolve().parent.parent
HASHES = Path(__file__).resolve().parent / "golden_hashes.json"

CASES = {
    "default": (ROOT / "configs" / "default.toml", {"simulation.horizon": "3d", "simulation.paths": 3000}),
    "sweep": (ROOT / "configs" / "sweep_example.toml", {"simulation.horizon": "8d", "simulation.paths": 1024}),
    "importance": (ROOT / "configs" / "default.toml",
                   {"simulation.horizon": "3d", "simulation.paths": 3000, "simulation.importance": "auto",
                    "position.collateral": 0.6}),
    # Kou jumps, discrete monitoring, antithetic pairs, report times: the other kernel branches
    "kou_discrete": (ROOT / "configs" / "default.toml",
                     {"simulation.horizon": "3d", "simulation.paths": 2048, "market.model": "kou",
                      "market.jump_intensity": 50.0, "market.jump_up_prob": 0.4, "market.jump_up_mean": 0.03,
                      "market.jump_down_mean": 0.04, "simulation.monitoring": "discrete",
                      "simulation.antithetic": True, "simulation.report_at": ["1d"]}),
}


def _digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256()
    h.update(str(a.dtype).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def hashes(case: str) -> dict[str, str]:
    path, over = CASES[case]
    ds = sim.run(sim.load_config(path, overrides=over))
    out = {}
    for name in sorted(ds.data_vars):
        out[name] = _digest(ds[name].values)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    got = hashes(case)
    if os.environ.get("HEDGESIM_RECORD_GOLDEN"):
        table = json.loads(HASHES.read_text()) if HASHES.exists() else {}
        table[case] = got
        HASHES.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        pytest.skip("recorded")
    want = json.loads(HASHES.read_text())[case]
    assert sorted(got) == sorted(want), "variables added or removed"
    changed = [k for k in want if got[k] != want[k]]
    assert not changed, f"{case}: bitwise change in {changed}"
