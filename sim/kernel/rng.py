"""Random streams (docs/model.md, Reproducibility).

Two generators, chosen by ``simulation.rng``:

* ``philox`` (the default): counter-based, ``sim.kernel.philox``. Every variate is a pure
  function of (seed, stream, path, draw): key = (seed, stream), counter = (draw // 4,
  global path index, sub-stream, 0). Nothing depends on blocks, threads, chunks or shards.
* ``sfc64`` (the generator of earlier releases, kept for one release to compare results):
  block ``b`` of ``BLOCK`` consecutive paths draws stream ``s`` from
  ``Generator(SFC64(SeedSequence(seed, spawn_key=(b, s))))``, path after path.

Paths still run in blocks of ``BLOCK`` (the unit of parallel work, of shards and of
progress chunks), so both generators give bitwise the same results whatever the thread
count, chunk size or machine. Streams are separate so that switching a feature on (e.g.
jumps) does not reshuffle the numbers another feature draws.
"""

from __future__ import annotations

import numpy as np
from numba.typed import List

BLOCK = 1024  # paths per block (parallel work unit, shard and chunk granularity); recorded in results
GENERATORS = ("philox", "sfc64")
ALGORITHMS = {
    "philox": "Philox4x64-10, key (seed, stream), counter (draw // 4, path, sub-stream, 0); normals by "
              "Box-Muller, exponentials by -log(u)",
    "sfc64": "SFC64 via SeedSequence(seed, spawn_key=(block, stream)); normals by numpy ziggurat",
}
ALGORITHM = ALGORITHMS["philox"]

PRICE = 0  # diffusion shocks of the index (bootstrap: bar indices, sub-stream 1 block lengths)
FUNDING = 1  # funding OU shocks
BASIS = 2  # basis OU shocks
JUMPS = 3  # jump arrival times and sizes
MONITOR = 4  # exponentials of the Brownian-bridge maximum (continuous monitoring)
DEFAULT = 5  # the exchange's default clock (one Exp(1) per path; drawn only when a variant has default risk)
STREAMS = (PRICE, FUNDING, BASIS, JUMPS, MONITOR)  # always drawn; DEFAULT is added when needed
N_STREAMS = len(STREAMS)


def algorithm(kind: str) -> str:
    """What ``simulation.rng = kind`` draws with (recorded in every result's attrs)."""
    return ALGORITHMS[kind]


def generator(seed: int, block: int, stream: int) -> np.random.Generator:
    """The sfc64 generator of a block and stream."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(block, stream))))


def block_generators(seed: int, first_block: int, n_blocks: int, stream: int) -> List:
    """A numba typed List of the sfc64 generators of blocks first_block .. first_block+n_blocks-1."""
    gens = List()
    for b in range(first_block, first_block + n_blocks):
        gens.append(generator(seed, b, stream))
    return gens


_UNUSED = np.random.Generator(np.random.SFC64(0))


def unused_generators(n_blocks: int) -> List:
    """Placeholders for the kernel's generator arguments under philox (never drawn from):
    one shared object, so nothing is seeded per block."""
    gens = List()
    for _ in range(n_blocks):
        gens.append(_UNUSED)
    return gens


def chunk_generators(kind: str, seed: int, first_block: int, n_blocks: int, default_on: bool) -> list:
    """The kernel's six generator lists for a chunk (price, funding, basis, jumps, monitor,
    default): sfc64's per-block generators, or placeholders under philox."""
    if kind == "philox":
        gens = unused_generators(n_blocks)
        return [gens] * (N_STREAMS + 1)
    gens = [block_generators(seed, first_block, n_blocks, s) for s in STREAMS]
    # the exchange's default clock: its own stream, drawn only when a variant has default risk
    gens.append(block_generators(seed, first_block, n_blocks, DEFAULT) if default_on else gens[MONITOR])
    return gens


def n_blocks(paths: int) -> int:
    return -(-paths // BLOCK)
