"""Helpers of the result-file tests (tests/results): small configs, a listing of files,
hedgesim in a subprocess (for what only a real process shows: stderr noise, locks held
by another process, SIGKILL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sim

ROOT = Path(__file__).resolve().parents[2]
SEED_EXAMPLE = ROOT / "configs" / "seed_example.toml"
DEFAULT = ROOT / "configs" / "default.toml"
SHORT = {"simulation.horizon": "2d", "position.collateral": 0.02}  # 48 hourly steps; liquidations happen


def small_config(**extra):
    return sim.load_config(SEED_EXAMPLE, overrides={**SHORT, **extra})


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def hedgesim(*args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    """``hedgesim ARGS`` in a new process: (returncode, stdout, stderr) as text; ``run`` and
    ``margin`` without the model band (its own tests are in tests/analysis/test_band.py)."""
    args = [str(a) for a in args]
    if args[:1] in (["run"], ["margin"]) and "--policy" not in args:
        args.append("--no-band")
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "default"})
