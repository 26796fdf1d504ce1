"""The shard plan: which paths each task simulates, and how the store is chunked.

A shard is a path range ``[first, first + count)`` whose size is a multiple of the random
block (``rng.BLOCK``), so its rows are bitwise the rows of a single-process run of the
same config and seed (docs/model.md, "Reproducibility"). Zarr chunks along ``path``
divide the shard, so no two tasks ever write the same chunk.
"""

from __future__ import annotations

from pathlib import Path

from sim.errors import DistributedError
from sim.kernel import rng

PARTIAL_SUFFIX = ".partial"
MAX_CHUNK_BYTES = 64 << 20  # per variable and zarr chunk
DEFAULT_MAX_SHARD = 1 << 18  # 262,144 paths: a few seconds of kernel per shard


def check_shard_paths(shard_paths: int) -> int:
    if shard_paths < rng.BLOCK or shard_paths % rng.BLOCK:
        raise DistributedError(f"--shard-paths {shard_paths}: must be a positive multiple of the random block, "
                               f"{rng.BLOCK} paths (e.g. {16 * rng.BLOCK:,} or {256 * rng.BLOCK:,})")
    return int(shard_paths)


def default_shard_paths(paths: int, workers: int) -> int:
    """About four shards per worker (load balance, little lost work on a failure), at
    most DEFAULT_MAX_SHARD paths, a whole number of blocks."""
    per = -(-paths // max(1, 4 * workers))
    blocks = max(1, -(-per // rng.BLOCK))
    return min(blocks * rng.BLOCK, DEFAULT_MAX_SHARD)


def shards_of(paths: int, shard_paths: int) -> list[tuple[int, int]]:
    return [(a, min(shard_paths, paths - a)) for a in range(0, paths, shard_paths)]


def chunk_paths_for(shard_paths: int, row_bytes: int) -> int:
    """Paths per zarr chunk: the largest whole number of blocks that divides the shard
    and keeps a chunk of the widest variable under MAX_CHUNK_BYTES."""
    blocks = shard_paths // rng.BLOCK
    best = 1
    for d in range(1, blocks + 1):
        if blocks % d == 0 and d * rng.BLOCK * row_bytes <= MAX_CHUNK_BYTES:
            best = d
    return best * rng.BLOCK


def partial_path(out: str | Path) -> Path:
    """Where the store of ``out`` is built until it is complete: ``OUT.partial``."""
    out = Path(out)
    return out.with_name(out.name + PARTIAL_SUFFIX)
