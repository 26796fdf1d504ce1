"""``sim.run``: simulate a validated config and return the result Dataset (docs/outputs.md)."""

from __future__ import annotations

from sim import engine, results
from sim.config import Config
from sim.analysis.adaptive import convergence as running_estimates, simulate_adaptive
from sim.results import io, meta


def run(cfg: Config, paths: int | None = None, seed: int | None = None, *, out=None,
        progress: bool = False, threads: int | None = None, chunk_paths: int | None = None,
        convergence: bool = False, history=None):
    """Simulate ``cfg`` and return the result Dataset; if ``out`` is given (".zarr" or
    ".nc"), also write it there atomically. ``paths``/``seed`` override the config.
    ``history``: the bootstrap model's sample in memory (``sim.engine.simulate``)."""
    if out is not None:
        io.check_output(out)  # refused before simulating: a file or store that is not hedgesim's own result
    cfg = cfg.effective(paths, seed)  # the stored config must reproduce the result
    if cfg.simulation.target_se is not None:
        raw = simulate_adaptive(cfg, seed=seed, progress=progress, threads=threads, chunk_paths=chunk_paths,
                                history=history)
        cfg = raw.cfg
    else:
        raw = engine.simulate(cfg, paths=paths, seed=seed, progress=progress, threads=threads,
                              chunk_paths=chunk_paths, history=history)
    ds = results.build_dataset(raw)
    if convergence:
        ds = running_estimates(ds)
        meta.describe_coords(ds)
    if out is not None:
        io.write(ds, out)
    return ds
