"""How much memory a run needs, estimated before anything is allocated, against what the
machine has (docs/performance.md, Memory).

``simulate`` preallocates every per-path output for all the paths it runs, so its peak
memory is known in advance:

* outputs: the bytes of one row of the per-path outputs (``PathOutputs``: paths x
  variants x report times, in the types ``allocate_outputs`` uses) x paths;
* saved trajectories: K x n_save x 4 float64 (``simulation.save_paths``, ``save_every``);
* scratch: per numba thread, the rows of one path (13 x (steps + 1) float64, the funding
  path and the saved equity row);
* market arrays: the per-step drift, volatility and basis rows (4 x (steps + 1) float64);
* result copies: what the Dataset and its summary add on top (hedged and unhedged values
  and PnLs, sorting for quantiles: 6 x paths x variants x report times float64, the path
  coordinate and weights, the policy columns, one saved variable made contiguous).

A run whose estimate is above the available memory (``available_bytes``: MemAvailable,
capped by a cgroup limit or an address-space limit) is refused with a ``ConfigError``
that gives the estimate, instead of being killed by the system after a long run. A
distributed run estimates per shard (each task calls ``simulate`` for its own paths).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from sim.errors import ConfigError

GIB = 2**30
SCRATCH_ROWS = 13  # per-thread rows of steps + 1 float64 in sim.kernel.driver: s, m, c, inv (2), shocks (8)
COPIES = 6  # float64 copies of paths x variants x report times the Dataset and its summary make


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run will hold at its peak, by part."""

    paths: int
    variants: int
    report_times: int
    saved_paths: int
    saved_points: int
    threads: int
    outputs: int
    saved: int
    scratch: int
    market: int
    copies: int

    @property
    def total(self) -> int:
        return self.outputs + self.saved + self.scratch + self.market + self.copies

    def describe(self) -> str:
        parts = [f"per-path outputs {gib(self.outputs)} ({self.paths:,} paths x {self.variants} variant(s) x "
                 f"{self.report_times} report time(s))"]
        if self.saved:
            parts.append(f"saved trajectories {gib(self.saved)} ({self.saved_paths:,} x {self.saved_points:,} x 4)")
        parts.append(f"scratch {gib(self.scratch)} ({self.threads} thread(s))")
        parts.append(f"result copies {gib(self.copies)}")
        return ", ".join(parts)


def gib(n: float) -> str:
    """Bytes in GiB, MiB or KiB (one decimal)."""
    for size, unit in ((GIB, "GiB"), (2**20, "MiB")):
        if n >= size / 10:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 2**10:,.1f} KiB"


def estimate(*, paths: int, variants: int, report_times: int, row_bytes: int, policy_row_bytes: int = 0,
             saved_paths: int, saved_points: int, steps: int, funding_every: int, save_every: int,
             threads: int) -> MemoryEstimate:
    """The peak memory of one ``simulate`` call. ``row_bytes``: the bytes of one path's row
    of every per-path output (``policy_row_bytes`` of them the policy columns)."""
    f8 = 8
    outputs = paths * row_bytes
    saved = saved_paths * saved_points * 4 * f8
    per_thread = (SCRATCH_ROWS * (steps + 1) + steps // max(1, funding_every) + 1 + steps // max(1, save_every) + 1) * f8
    scratch = threads * per_thread
    market = 4 * (steps + 1) * f8
    copies = (COPIES * paths * variants * report_times * f8 + 2 * paths * f8 + paths * policy_row_bytes
              + saved // 4)
    return MemoryEstimate(paths=paths, variants=variants, report_times=report_times, saved_paths=saved_paths,
                          saved_points=saved_points, threads=threads, outputs=outputs, saved=saved,
                          scratch=scratch, market=market, copies=copies)


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """What the cgroup (container) limit leaves, if there is one."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            text = Path(limit_file).read_text().strip()
            if text == "max":
                return None
            limit = int(text)
            if limit >= 2**60:  # cgroup v1: "no limit" is a huge number
                return None
            used = int(Path(usage_file).read_text().strip())
            return max(0, limit - used)
        except (OSError, ValueError):
            continue
    return None


def _address_space_available() -> int | None:
    """What an address-space limit (``ulimit -v``) leaves, if there is one."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ValueError, OSError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    size = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                size = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - size)


def available_bytes() -> int | None:
    """Memory this process can still use: /proc/meminfo MemAvailable (else the physical
    memory, os.sysconf), capped by a cgroup or address-space limit; None if unknown."""
    avail = _meminfo_available()
    if avail is None:
        try:
            avail = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    for cap in (_cgroup_available(), _address_space_available()):
        if cap is not None:
            avail = cap if avail is None else min(avail, cap)
    return avail


def check(est: MemoryEstimate, available: int | None = None, what: str = "this run") -> None:
    """ConfigError if ``est`` needs more than the available memory (``available_bytes()``
    unless given; nothing is checked when it is unknown)."""
    avail = available_bytes() if available is None else available
    if avail is None or est.total <= avail:
        return
    fewer = "smaller shards (--shard-paths)" if what.startswith("this shard") else \
        "fewer simulation.paths (or a distributed run, --workers)"
    raise ConfigError(
        f"{what} needs about {gib(est.total)} of memory ({est.describe()}), more than the {gib(avail)} available; "
        f"use {fewer}, fewer simulation.save_paths or a longer simulation.save_every, a longer simulation.dt, or "
        "fewer sweep variants")
