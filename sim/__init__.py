"""hedgesim: Monte Carlo risk of holding BTC hedged with a short inverse perpetual.

    import sim
    cfg = sim.load_config("configs/default.toml", overrides={"market.sigma": 1.2})
    ds = sim.run(cfg, paths=100_000, seed=1)     # -> xarray.Dataset (SPEC §6)
"""

from __future__ import annotations

__version__ = "0.1.0"

from sim.config.core import Config, ConfigError, load_config  # noqa: E402
from sim.results.io import ResultFileError, read as open_result, write as write_result  # noqa: E402


def run(cfg: Config, paths: int | None = None, seed: int | None = None, *, out=None,
        progress: bool = False, threads: int | None = None, chunk_paths: int | None = None,
        convergence: bool = False):
    """Simulate ``cfg`` and return the result Dataset; if ``out`` is given (".zarr" or
    ".nc"), also write it there atomically. ``paths``/``seed`` override the config."""
    from sim import engine
    from sim.results import io
    from sim import results

    if out is not None:
        io.check_path(out)
    cfg = cfg.effective(paths, seed)  # the stored config must reproduce the result
    if cfg.simulation.target_se is not None:
        from sim.engine.adaptive import simulate_adaptive

        raw = simulate_adaptive(cfg, seed=seed, progress=progress, threads=threads, chunk_paths=chunk_paths)
        cfg = raw.cfg
    else:
        raw = engine.simulate(cfg, paths=paths, seed=seed, progress=progress, threads=threads,
                              chunk_paths=chunk_paths)
    ds = results.build_dataset(raw)
    if convergence:
        from sim.engine.adaptive import convergence as _convergence

        ds = _convergence(ds)
    if out is not None:
        io.write(ds, out)
    return ds


__all__ = ["Config", "ConfigError", "ResultFileError", "load_config", "run", "open_result", "write_result",
           "__version__"]
