"""Fuzz test of the command line (issue 12, item 3): hostile input gives one line and exit
status 2, never a traceback, and leaves nothing on disk.

A seeded generator (``random.Random``, one stream per case, so case i is the same whatever
the number of cases) builds, per case, one invocation of ``run``, ``margin``, ``stress``,
``calibrate`` or ``replay`` (in-process, ``sim.cli.main``) from

* configs: random subsets of the schema's keys (``sim.config.SCHEMA``: new keys are fuzzed
  as soon as they exist) with values drawn from their valid ranges, their edges and just
  beyond, and invalid values (wrong types, NaN, inf, huge and subnormal numbers, negative
  numbers, TOML dates, unknown keys and sections, bad durations, deep nesting), tier
  tables, sweeps and ``[[stress]]`` scenarios;
* ``--set`` / ``--sweep`` values and the other options (``--paths``, ``--seed``,
  ``--threads``, ``--chunk``, ``--target``, ``--target-se``, ``--out``, dates, durations,
  column maps), valid or absurd;
* CSV files: the layouts of the data folder and others, time formats (ISO, Unix s / ms,
  dates outside 1677..2262), garbage lines, bad cells, huge, zero and negative prices,
  funding rates of 1e300, empty and binary files, .gz that is not gzip, directories and
  missing paths;
* damaged result stores: a copy of a good .zarr or .nc result with a file deleted,
  truncated, emptied, overwritten with random bytes, a bit flipped, junk appended or its
  metadata garbled, read by ``show`` (and ``report``).

The size of a run is small by construction (at most 2,048 paths, 3 days of steps of at
least 15 minutes, ``max_paths`` 4,096): the point is input handling, not simulation size.

Every case must end in one of two ways:

* exit 0: no NaN or inf among the printed numbers (undefined figures print as "n/a"), the
  result it says it wrote opens with ``sim.open_result``, a calibrated fragment loads as a
  config, and nothing else appeared in the case's folder;
* exit 2: the last line on stderr starts with "hedgesim: error:" and is the only error
  line (the others are "note:" lines), nothing on stdout, and the case's folder is exactly
  as before (no file, no hidden temporary).

A damaged store must give exit 2 with one line, or exit 0 printing exactly what the good
store prints (the damage did not touch what is read). Never a traceback, never exit 1. Argparse's own usage errors (an option that is not an
int, an unknown choice) are exit 2 with argparse's two-line message ("usage: ..." and
"hedgesim CMD: error: ..."); they are counted as their own class.

``make test`` runs ``QUICK`` + ``DAMAGE_QUICK`` cases; ``pytest -m fuzz tests/test_fuzz.py``
runs ``HEDGESIM_FUZZ_CASES`` (default 5,000) more, one in six a damaged store;
``HEDGESIM_FUZZ_SEED`` changes the seed.
"""

from __future__ import annotations

import gzip
import importlib
import io
import json
import math
import os
import random
import re
import shutil
import tomllib
import traceback
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import sim
from sim.cli import main
from sim.config import SCHEMA, preset_names
from sim.config.checks import check_field

ROOT = Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("HEDGESIM_FUZZ_SEED", "12"))
QUICK = 300
LONG = int(os.environ.get("HEDGESIM_FUZZ_CASES", "5000"))
COMMANDS = ("run", "margin", "stress", "calibrate", "replay")
WEIGHTS = (0.3, 0.2, 0.15, 0.15, 0.2)  # calibrate (a Merton fit) is the slowest per case

# --------------------------------------------------------------------------- values


class Raw(str):
    """TOML text written as is (deep nesting, dates, garbage)."""


def deep(r: random.Random) -> Raw:
    d = r.choice([17, 40, 300, 600, 2000, 20000])
    return Raw(r.choice(["[" * d + "]" * d, "{a = " * d + "1" + "}" * d, "[" * d + "1" + "]" * d]))


BAD_DURATIONS = ["3 months", "0s", "-1h", "1e5d", "1.5.h", "99999999999999999999d", "1m", "", "8 hours", "h",
                 "1H", "\t", "1d1h", "nanh", "infd", "0.0000001s", "0.5s", "31d", "3651d", "1 h", "١h"]


def junk(r: random.Random):
    """An invalid value of any kind."""
    return r.choice([
        "abc", "", " ", "\x00", "é", "8h", True, False, [], [1, "a"], {"a": 1}, {}, math.nan, math.inf, -math.inf,
        1e308, -1e308, 5e-324, 1e-320, -1, 0, -0.0, 1.5, 10**30, 2**63, -(2**63), 2**64, 10**400,
        Raw("1979-05-27T07:32:00Z"), Raw("1979-05-27"), Raw("07:32:00"), deep(r), r.choice(BAD_DURATIONS),
        "x" * 5000, [[[[1]]]], [math.nan], [-1.0, 2.0], -1e-9,
    ])


# valid values of the keys that set a run's size: small by construction
SMALL = {
    "simulation.paths": [1, 2, 7, 100, 1024, 1025, 2048],
    "simulation.horizon": ["1h", "6h", "12h", "1d", "2d", "3d"],
    "simulation.dt": ["1h", "30min", "2h", "15min", "1h", "1h"],
    "simulation.max_paths": [1, 1024, 2048, 4096],
    "simulation.save_paths": [0, 0, 1, 3, 10],
    "simulation.save_every": ["1h", "2h", "30min", "1d", "15min"],
    "simulation.report_at": [["1h"], ["1h", "12h"], ["6h", "1d"], ["2d"], ["1d", "3d"]],
    "simulation.target_se": [0.01, 0.05, 0.2, "10%", "50%", 0.0001],
    "funding.interval": ["1h", "2h", "4h", "8h", "1d", "30min"],
    "funding.half_life": ["1min", "1h", "3d", "3650d"],
    "basis.half_life": ["1min", "1h", "3d", "3650d"],
    "exchange.preset": preset_names() + [""],
    "output.path": ["", "r.zarr", "r.nc", "sub/r.zarr", "r.csv", ".zarr", "r.zarr/x.nc", "a b.nc"],
    "exchange.name": ["x", "", "é" * 3, "a\nb"],
}


def valid(r: random.Random, dotted: str, field):
    """A value inside the field's range (for the size keys: a small one)."""
    if dotted in SMALL:
        return r.choice(SMALL[dotted])
    kind = field.kind
    if field.choices:
        return r.choice(field.choices)
    if kind == "bool":
        return r.random() < 0.5
    if kind in ("duration", "delay"):
        return r.choice(["0s", "1h", "30min", "1d"] if kind == "delay" else ["1h", "8h", "1d", "3d"])
    if kind == "durations":
        return r.choice(SMALL["simulation.report_at"])
    if kind == "tilt":
        return r.choice(["off", "auto", 0.5, -1.0, 0.0, 3.0])
    if kind == "tiers":
        return tiers(r)
    if kind in ("float", "int"):
        lo = field.lo if field.lo is not None else 0.0
        hi = field.hi if field.hi is not None else lo + 1000.0
        x = r.choice([lo, hi, r.uniform(lo, hi), lo + (hi - lo) * r.random() ** 6,
                      field.default if isinstance(field.default, (int, float)) else lo])
        if field.lo_open and x <= lo:
            x = lo + (hi - lo) * 1e-3
        if field.hi_open and x >= hi:
            x = hi - (hi - lo) * 1e-3
        return int(x) if kind == "int" else float(x)
    if kind == "str":
        return r.choice(["x", "", "generic"])
    return r.choice(["1h", 0.01, "5%"])


def edge(r: random.Random, field):
    """A bound, or just beyond it."""
    lo, hi = field.lo, field.hi
    cands = []
    for b in (lo, hi):
        if b is not None and isinstance(b, (int, float)) and math.isfinite(b):
            cands += [b, math.nextafter(b, math.inf), math.nextafter(b, -math.inf), b * 1.0000001 + 1e-300]
    return r.choice(cands) if cands else junk(r)


def value(r: random.Random, dotted: str, field, bad: float):
    """Valid with probability 1 - bad, else an edge (or just beyond) or junk."""
    x = r.random()
    if x >= bad:
        return valid(r, dotted, field)
    if x < bad / 3 and dotted not in SMALL:
        return edge(r, field)
    return junk(r)


def tiers(r: random.Random, bad: float = 0.25):
    if r.random() < bad:
        return r.choice([[], [{"rate": 0.6}], [{"limit": 1.0}], [{"limit": 2.0, "rate": 0.01},
                         {"limit": 1.0, "rate": 0.02}], [{"limit": math.nan, "rate": 0.01}], "tiers",
                         [{"limit": 1e6, "rate": 0.01, "deduction": -5.0}], [{"rate": 0.01, "x": 1}]])
    out, limit, rate = [], 0.0, r.choice([0.0, 0.004, 0.005])
    for _ in range(r.randint(1, 4)):
        limit += r.choice([1e3, 5e4, 1e6, 1e9])
        rate = min(0.49, rate + r.choice([0.0, 0.005, 0.01]))
        out.append({"limit": limit, "rate": rate})
    if r.random() < 0.5:
        out[-1].pop("limit")
    return out


# --------------------------------------------------------------------------- TOML


def toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def toml_value(v) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) if abs(v) < 10**300 else "1" + "0" * 400
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def toml_doc(doc: dict) -> str:
    top = [f"{toml_key(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict) and k != "stress"]
    lines = top[:]
    for sec, body in doc.items():
        if isinstance(body, dict):
            lines.append(f"[{toml_key(sec)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items()]
    for st in doc.get("stress", []) if isinstance(doc.get("stress"), list) else []:
        if isinstance(st, dict):
            lines.append("[[stress]]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in st.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- configs

BASE = {"simulation": {"paths": 1024, "horizon": "1d", "dt": "1h", "max_paths": 4096}}
SWEEPABLE = ["position.hedge_ratio", "position.collateral", "position.contract", "exchange.taker_fee",
             "exchange.maintenance_margin", "exchange.preset", "funding.cap", "position.stack", "market.sigma",
             "exchange.margin_mode", "position.collateral_usd"]


def fields():
    return [(f"{s}.{k}", f) for s, body in SCHEMA.items() for k, f in body.items()]


def config_doc(r: random.Random, files: dict, bad: float, stress: bool = False) -> dict:
    """A scenario: the small base, random keys of the schema (invalid with probability
    ``bad``), sometimes structure junk."""
    doc = json.loads(json.dumps(BASE))
    if r.random() < 0.3:
        doc["market"] = {"model": "merton", "spot": 69000.0, "sigma": 0.5, "jump_intensity": 12.0,
                         "jump_mean": -0.01, "jump_std": 0.04}
        doc["position"] = {"collateral": 0.25}
    all_fields = fields()
    for _ in range(r.choice([0, 1, 2, 3, 4, 6, 10])):
        dotted, field = r.choice(all_fields)
        sec, key = dotted.split(".")
        doc.setdefault(sec, {})[key] = value(r, dotted, field, bad)
    if "simulation" in doc and "target_se" in doc["simulation"]:
        doc["simulation"].setdefault("max_paths", 4096)
    x = r.random() / max(bad, 1e-9)
    if x < 0.04:
        doc.setdefault(r.choice(list(SCHEMA)), {})[r.choice(["sigmaa", "rate", "x", "", "paths "])] = 1
    elif x < 0.06:
        doc[r.choice(["markt", "sweep", "stress", "Market", "policy"])] = r.choice([5, "x", [1], {"a": 1}])
    elif x < 0.08:
        doc[r.choice(["deep", "market"])] = deep(r)
    if r.random() < 0.15:
        doc["sweep"] = {r.choice(SWEEPABLE + (["simulation.paths", "x.y", "market"] if r.random() < bad else [])):
                        r.choice([[0.5, 1.0], [0.1, 0.2, 0.3], [1.0, 2.0]] + ([[1.0, 1.0], [], "x", [junk(r)],
                                 ["inverse", "linear"], preset_names()[:2]] if r.random() < bad else []))
                        for _ in range(r.randint(1, 2))}
    if stress or r.random() < 0.05:
        doc["stress"] = [stress_table(r, files, bad) for _ in range(r.choice([0, 1, 1, 2, 3] if bad else [1, 2, 3]))]
    return doc


def stress_table(r: random.Random, files: dict, bad: float) -> dict:
    """One ``[[stress]]`` scenario; each field invalid with probability ``bad``."""
    def pick(good, wrong):
        return r.choice(wrong) if r.random() < bad else r.choice(good)

    kind = pick(["jump", "vol", "funding", "basis", "replay"], ["crash", 5, "JUMP"])
    st = {"type": kind}
    t = lambda: pick(["1h", "6h", "12h"], ["1d", "3d", "30d", "0s", "abc", 5])  # noqa: E731
    if kind in ("jump", "basis"):
        st["size"] = pick([-0.3, 0.1, -0.1] if kind == "basis" else [-0.3, 0.1, -0.9, 9.0],
                          [-0.99, -1.0, 10.0, 11.0, math.nan, "x", 0.5, -0.5])
        st["at"] = t()
    elif kind == "vol":
        st["multiplier"] = pick([2.0, 0.5, 20.0], [0.0, 21.0, -1.0, math.inf])
        st["start"], st["end"] = pick(["1h"], ["6h", "abc"]), pick(["6h", "12h"], ["1h", "3d"])
    elif kind == "funding":
        st["value"] = pick([0.01, -0.1, 0.1], [0.2, math.nan, 1e300])
        st["start"] = t()
    elif kind == "replay":
        name = f"path{len(files)}.csv"
        files[name] = csv_bytes(r, "prices", bad, path=True)[0]
        st["file"] = pick([name], ["missing.csv", ".", ""])
    if r.random() < 0.3:
        st["name"] = pick(["x", "my scenario"], [5, ""])
    if r.random() < bad / 3:
        st.pop(r.choice(list(st)))
    return st


def set_option(r: random.Random, bad: float) -> str:
    x = r.random()
    if x >= bad / 4:
        dotted, field = r.choice(fields())
        return f"{dotted}={toml_value(value(r, dotted, field, bad))}"
    return r.choice(["=", "market.sigma", "a.b.c=1", "market.=1", ".x=1", "market.sigma==1", "sweep.x=1",
                     "market.sigma=[", "simulation.paths=1e3", "market.model=merton", "market.sigma=" + deep(r),
                     "MARKET.SIGMA=1", "market.sigma =\t0.5", "market.sigma=0x10", "market.sigma=1_000"])


# --------------------------------------------------------------------------- CSV files

PRICE_LAYOUTS = [
    ("timestamp,price", "point"), ("time,date,hour,open,high,close,low,volumefrom,volumeto", "cc"),
    ("unix,open,high,low,close", "ohlc"), ("date,price", "point"), ("Timestamp,Open_spot,High_spot,Low_spot,"
     "Close_spot,MA120,Open_futures,High_futures,Low_futures,Close_futures,Funding Rate", "spotperp"),
    ("datetime,close", "point"), ("foo,bar", "point"), ("timestamp,price,funding", "point"),
]
FUNDING_LAYOUTS = [("timestamp,funding_rate", "f"), ("timestamp,fundingRate,fundingInterval", "bitmex"),
                   ("Timestamp,Open_spot,High_spot,Low_spot,Close_spot,MA120,Open_futures,High_futures,Low_futures,"
                    "Close_futures,Funding Rate", "spotperp"), ("date,rate", "f"), ("time", "f")]
STARTS = [1609459200] * 6 + [0, -9223372036, 9223372000, -62135596800, 253370764800, 32503680000]


def fmt_time(r: random.Random, t: float, style: str) -> str:
    if style == "s":
        return str(int(t))
    if style == "ms":
        return str(int(t * 1000))
    if style == "float":
        return repr(t + 0.25)
    try:
        import datetime as dt

        d = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=t)
    except OverflowError:
        return r.choice(["0001-01-01T00:00:00Z", "9999-12-31 23:00:00"])
    return d.strftime("%Y-%m-%dT%H:%M:%SZ" if style == "iso" else "%Y-%m-%d %H:%M:%S")


def csv_bytes(r: random.Random, what: str, bad: float, path: bool = False) -> tuple[bytes | None, tuple]:
    """A price (or funding) CSV (None: make the path a directory) and (first time, bar, rows)
    of its data. With probability ``bad`` per aspect: junk files, times outside 1677..2262,
    bad cells, garbage lines, shuffled or reversed rows, UTF-16."""
    x = r.random() / max(bad, 1e-9)
    if x < 0.1:
        return b"", (0, 3600, 0)
    if x < 0.2:
        return bytes(r.randrange(256) for _ in range(r.choice([1, 100, 3000]))), (0, 3600, 0)
    if x < 0.25:
        return None, (0, 3600, 0)
    layouts = FUNDING_LAYOUTS if what == "funding" else PRICE_LAYOUTS
    header, kind = r.choice(layouts[:1] if path else layouts if r.random() < bad else layouts[:5])
    n = r.choice([0, 1, 2, 3, 13, 50, 120, 200, 300] if r.random() < bad else [50, 120, 200, 300])
    bar = r.choice([3600, 3600, 3600, 8 * 3600, 86400, 60] if what == "prices" else [8 * 3600, 8 * 3600, 3600])
    t0 = r.choice(STARTS) if r.random() < bad else 1609459200 + 3600 * r.randrange(48)
    style = r.choice(["iso", "iso", "s", "ms", "space", "float", "mixed"])
    spot = r.choice([60000.0, 1.0, 1e-300, 1e300, 0.0]) if r.random() < bad else 60000.0
    lines = [header]
    price = spot
    for i in range(n):
        t = t0 + i * bar
        st = style if style != "mixed" else r.choice(["s", "ms"])
        price *= math.exp(r.gauss(0.0, 0.01)) if math.isfinite(price) else 1.0
        p = f"{price:.6g}"
        rate = f"{r.gauss(1e-4, 3e-4):.6g}"
        cols = header.split(",")
        row = []
        for c in cols:
            lc = c.lower()
            if lc in ("timestamp", "time", "unix", "date", "datetime"):
                row.append(fmt_time(r, t, st))
            elif "rate" in lc or lc == "funding":
                row.append(rate)
            elif lc == "fundinginterval":
                row.append("2000-01-01 08:00:00")
            elif lc == "hour":
                row.append(str(i % 24))
            elif lc.startswith("volume") or lc == "ma120":
                row.append("1")
            else:
                row.append(p)
        if r.random() < 0.1 * bad:  # a bad cell
            row[r.randrange(len(row))] = r.choice(["", "abc", "nan", "inf", "-5", "0", "1e300", "1e-300",
                                                  "0001-01-01", "1e15", "-1e300"])
        lines.append(",".join(row))
        if r.random() < 0.05 * bad:  # a garbage line
            lines.append(r.choice(["###", ",,,,,,,,,,,,", "a,b", "\x00\x01", "1,2,3,4,5,6,7,8,9,10,11,12,13"]))
    if r.random() < 0.3 * bad:
        body = lines[1:]
        r.shuffle(body)
        lines = [lines[0]] + body
    if r.random() < 0.3:
        lines = [lines[0]] + lines[:0:-1]  # newest first (common, and valid)
    text = "\n".join(lines) + "\n"
    if r.random() < 0.1 * bad:
        return text.encode("utf-16"), (t0, bar, n)
    return text.encode(), (t0, bar, n)


def write_files(case_dir: Path, files: dict) -> None:
    for name, data in files.items():
        p = case_dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            p.mkdir(exist_ok=True)
        elif name.endswith(".gz") and not data.startswith(b"NOTGZ"):
            p.write_bytes(gzip.compress(data))
        else:
            p.write_bytes(data.removeprefix(b"NOTGZ"))


# --------------------------------------------------------------------------- cases

INT_OPTS = {"--paths": (["1", "7", "1024", "2048"], ["0", "-1", "abc", "1e3", "99999999999999999999", ""]),
            "--seed": (["0", "7", "9223372036854775807"], ["-1", "18446744073709551616", "x"]),
            "--threads": (["1", "2", "100000"], ["0", "-3"]), "--chunk": (["1", "1024", str(10**12)], ["0", "-1"]),
            "--save-paths": (["0", "3"], ["-1", "100000"])}


def pick(r: random.Random, bad: float, good: list, wrong: list):
    return r.choice(wrong) if wrong and r.random() < bad else r.choice(good)


def out_option(r: random.Random, files: dict, bad: float) -> list[str]:
    x = r.random()
    if x < 0.8:
        return ["--no-save"]
    if x >= 0.8 + 0.2 * bad:
        return ["--out", r.choice(["r.zarr", "r.nc", "sub/deeper/r.zarr"])]
    name = r.choice(["notes.nc", "dir.zarr", "r.csv", "x.txt/r.nc", "", ".zarr", "foreign.zarr"])
    if name == "notes.nc":
        files[name] = b"my notes, not a result"
    elif name == "dir.zarr":
        files["dir.zarr/MY_NOTES.txt"] = b"notes"
    elif name == "x.txt/r.nc":
        files["x.txt"] = b"a file where a folder should be"
    elif name == "foreign.zarr":
        files["foreign.zarr/zarr.json"] = b'{"zarr_format": 3, "node_type": "group"}'
    return ["--out", name]


def sim_case(r: random.Random, command: str, files: dict, bad: float) -> list[str]:
    doc = config_doc(r, files, bad, stress=command == "stress")
    cfg_name = pick(r, bad, ["c.toml"], ["c.txt", "c", "c.toml"])
    x = r.random() / max(bad, 1e-9)
    if x < 0.1:
        files[cfg_name] = bytes(r.randrange(256) for _ in range(200))
    elif x < 0.15:
        files[cfg_name] = None
    elif x < 0.2:
        cfg_name = "missing.toml"
    else:
        text = toml_doc(doc)
        files[cfg_name] = text.encode() if x > 0.25 else text.encode("utf-16")
    argv = [command, cfg_name, "-q"]
    for opt, (good, wrong) in INT_OPTS.items():
        if opt == "--save-paths" and command != "run":
            continue
        if r.random() < 0.12:
            argv += [opt, pick(r, bad, good, wrong)]
    for _ in range(r.choice([0, 0, 1, 2, 4])):
        argv += ["--set", set_option(r, bad)]
    if r.random() < 0.1:
        key = pick(r, bad, SWEEPABLE, ["simulation.paths", "market", "x.y"])
        argv += ["--sweep", f"{key}=" + ",".join(toml_value(pick(r, bad, [0.5, 1.0, 2.0], [junk(r)]))
                                                  for _ in range(r.randint(0 if bad else 1, 3)))]
    if command == "margin":
        for _ in range(r.choice([0, 1, 1, 2])):
            argv += ["--target", pick(r, bad, ["0.01", "0.001", "0.2", "1e-9", "0.4999"],
                                      ["0", "-1", "nan", "inf", "1", "0.5", "1e-17", "abc"])]
    if command == "run":
        if r.random() < 0.08:
            argv += ["--target-se", pick(r, bad, ["0.01", "5%", "0.2"], ["0", "abc", "200%", "-1", "nan", "0.6"])]
            argv += ["--set", "simulation.max_paths=4096"]
        if r.random() < 0.05:
            argv += ["--convergence"]
    return argv + out_option(r, files, bad)


DATES = ["0001-01-01", "9999-12-31", "3000-01-01", "1e15", "1000000000000000", "abc", "", "2021-13-45",
         "1677-09-22", "2262-04-11", "2021-01-01T00:00:00+05:00", "2020-01-01"]
MAPS = ["time=timestamp,close=price,utc_offset=3", "time=timestamp,close=price,utc_offset=nan", "time=nope,close=price",
        "utc_offset=inf", "time=timestamp,close=price,unit=xs", "time=timestamp,close=price,label=foo", "=", "time",
        ",,,", "time=timestamp,close=price,unit=ms", "time=timestamp,funding=funding_rate",
        "time=timestamp,close=price,utc_offset=1e300"]


def data_files(r: random.Random, files: dict, bad: float) -> tuple[list[str], tuple]:
    """--prices (and --funding) options and their files; the first price file's (t0, bar, n)."""
    argv, meta = [], None
    for _ in range(r.choice([1, 1, 1, 2])):
        name = pick(r, bad, ["p.csv", "p.csv.gz", "p2.csv"], ["missing.csv", "notgz.csv.gz"])
        if name != "missing.csv" and name not in files:
            data, m = csv_bytes(r, "prices", bad)
            meta = meta or m
            files[name] = (b"NOTGZ" + data) if name == "notgz.csv.gz" and data is not None else data
        argv += ["--prices", name]
    if r.random() < 0.4:
        files["f.csv"] = csv_bytes(r, "funding", bad)[0]
        argv += ["--funding", "f.csv"]
    if r.random() < 0.1 * bad:
        argv += ["--price-columns", r.choice(MAPS)]
    if r.random() < 0.05 * bad:
        argv += ["--funding-columns", r.choice(MAPS)]
    if r.random() < 0.1:
        argv += ["--keep-last-bar"]
    return argv, meta or (1609459200, 3600, 0)


def date_in(r: random.Random, meta: tuple, bad: float) -> str:
    """A time inside the data (as ISO text), or junk."""
    t0, bar, n = meta
    if r.random() < bad or n < 2:
        return r.choice(DATES)
    t = t0 + bar * r.randrange(max(1, n // 2)) + bar
    import datetime as dt

    try:
        return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=t)).strftime(r.choice(["%Y-%m-%dT%H:%M", "%Y-%m-%d"]))
    except OverflowError:
        return "0001-01-01"


def data_case(r: random.Random, command: str, files: dict, bad: float) -> list[str]:
    argv = [command]
    if command == "replay":
        doc = config_doc(r, files, bad) if r.random() < 0.5 else json.loads(json.dumps(BASE))
        doc.pop("sweep", None) if r.random() > bad else None
        files["c.toml"] = toml_doc(doc).encode()
        argv += ["c.toml", "-q"]
    else:
        argv += ["-q"]
    opts, meta = data_files(r, files, bad)
    argv += opts
    bar = meta[1]
    if command == "calibrate":
        if r.random() < 0.3:
            argv += ["--start", date_in(r, meta, bad)]
        if r.random() < 0.2:
            argv += ["--end", pick(r, bad, ["2021-12-31"], DATES)]
        if r.random() < 0.2:
            argv += ["--model", pick(r, bad, ["gbm", "merton"], ["kou"])]
        if r.random() < 0.2:
            argv += ["--drift", pick(r, bad, ["fitted", "zero"], ["up"])]
        return argv
    argv += ["--start", date_in(r, meta, bad)]
    bars = lambda k: f"{k * bar}s"  # noqa: E731
    if r.random() < 0.6:
        argv += ["--horizon", pick(r, bad, [bars(3), bars(24), bars(10)], ["99999d", "0s", "abc", "1e308d", "90min"])]
    else:
        argv += ["--set", "simulation.horizon=" + pick(r, bad, [f'"{bars(24)}"', f'"{bars(8)}"'], ['"99999d"'])]
    if r.random() < 0.25:
        argv += ["--every", pick(r, bad, [bars(24), bars(50)], ["1s", "1min", "0s", "abc"])]
        if r.random() < 0.9:
            argv += ["--end", date_in(r, meta, bad)]
    for _ in range(r.choice([0, 0, 1])):
        argv += ["--set", set_option(r, bad)]
    return argv + out_option(r, files, bad)


def make_case(i: int, seed: int = SEED) -> tuple[list[str], dict]:
    """Case ``i``: its argv and the files to create ({relative path: bytes, or None for a
    folder}). Half the cases are clean (every value valid: they should mostly run), the
    others are hostile in each aspect with probability ``bad``."""
    r = random.Random(f"{seed}:{i}")
    command = r.choices(COMMANDS, weights=WEIGHTS)[0]
    bad = 0.0 if r.random() < 0.5 else r.choice([0.1, 0.3, 0.6])
    files: dict = {}
    if command in ("run", "margin", "stress"):
        argv = sim_case(r, command, files, bad)
    else:
        argv = data_case(r, command, files, bad)
    return argv, files


# --------------------------------------------------------------------------- running and checking

_CLI = importlib.import_module("sim.cli.main")
def short(argv: list[str]) -> str:
    return " ".join(repr(a if len(a) <= 120 else a[:100] + f"... ({len(a):,} characters)") for a in argv)
NUMBER_JUNK = re.compile(r"(?i)(?<![\w/.])[-+]?(nan|inf|infinity)(?![\w])")


def snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): (p.is_dir(), p.stat().st_size if p.is_file() else 0,
                                    p.stat().st_mtime_ns if p.is_file() else 0) for p in d.rglob("*")}


def invoke(argv: list[str], case_dir: Path, what: str) -> tuple[object, str, str, list[str]]:
    """``hedgesim argv`` in-process in ``case_dir``: (exit status, stdout, stderr, the class
    names of the exceptions main turned into exit statuses, "argparse" for a usage error).
    A traceback is an AssertionError naming ``what``."""
    kinds: list[str] = []
    dispatch = _CLI._dispatch

    def recording(args):
        try:
            return dispatch(args)
        except BaseException as exc:
            kinds.append(type(exc).__name__)
            raise

    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    _CLI._dispatch = recording
    os.chdir(case_dir)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv + (["--no-band"] if argv[:1] in (["run"], ["margin"]) and "--policy" not in argv
                                    else []))
            except SystemExit as exc:
                code = exc.code
                kinds.append("argparse")
    except BaseException:
        raise AssertionError(f"{what}: hedgesim {short(argv)}: traceback\n{traceback.format_exc()[-3000:]}") from None
    finally:
        os.chdir(cwd)
        _CLI._dispatch = dispatch
    return code, out.getvalue(), err.getvalue(), kinds


def check_refusal(code, so: str, se: str, kinds: list[str], before: dict, after: dict, where: str) -> str | None:
    """The outcome class of an exit status 2 (one error line, nothing on stdout, the
    folder as before), or None for any other status."""
    lines = [ln for ln in se.splitlines() if ln.strip()]
    if code == 2 and kinds == ["argparse"]:
        assert lines and re.match(r"hedgesim( \w+)?: error: ", lines[-1]) and so == "", where
        assert after == before, f"{where}\nfiles left: {set(after) - set(before)}"
        return "exit 2 argparse usage"
    if code == 2:
        errors = [ln for ln in lines if ln.startswith("hedgesim: error:")]
        others = [ln for ln in lines if not ln.startswith(("hedgesim: error:", "hedgesim: note:", "note:"))]
        assert len(errors) == 1 and lines[-1] == errors[0] and not others, where
        assert so == "", where
        assert after == before, f"{where}\nfiles left: {sorted(set(after) - set(before))}"
        return f"exit 2 {kinds[-1] if kinds else '?'}"
    return None


def run_case(i: int, base: Path, seed: int = SEED) -> str:
    """Run case ``i`` in its own folder under ``base``; returns its outcome class or raises
    AssertionError describing what broke."""
    argv, files = make_case(i, seed)
    case_dir = base / f"case{i}"
    case_dir.mkdir(parents=True)
    write_files(case_dir, files)
    before = snapshot(case_dir)
    code, so, se, kinds = invoke(argv, case_dir, f"case {i} (seed {seed})")
    where = f"case {i} (seed {seed}): hedgesim {short(argv)}\nstdout: {so[-2000:]}\nstderr: {se[-2000:]}"
    after = snapshot(case_dir)
    refused = check_refusal(code, so, se, kinds, before, after, where)
    if refused:
        return refused
    assert code == 0, f"{where}\nexit status {code!r}"
    assert "Traceback" not in se, where
    bad = NUMBER_JUNK.findall(so)  # undefined figures print as "n/a"
    assert not bad, f"{where}\nnon-finite numbers printed: {bad[:5]}"
    written = re.findall(r"^(?:result|curve|table) written to (.+)$", so, flags=re.M)
    new = set(after) - set(before)
    if written:
        target = case_dir / written[-1]
        top = Path(written[-1]).parts[0]
        assert all(n == top or n.startswith(top + os.sep) for n in new), f"{where}\nunexpected files: {sorted(new)}"
        try:
            sim.open_result(target)
        except Exception as exc:
            raise AssertionError(f"{where}\nthe result written cannot be read: {exc!r}") from None
    else:
        assert not new, f"{where}\nfiles without a result: {sorted(new)}"
    if argv[0] == "calibrate":  # every value of the fragment inside the schema's range
        try:
            for section, body in tomllib.loads(so).items():
                for key, v in body.items():
                    check_field(section, key, SCHEMA[section][key], v)
        except Exception as exc:
            raise AssertionError(f"{where}\nthe calibrated fragment is not a valid config: {exc!r}") from None
    return "exit 0"


# --------------------------------------------------------------------------- damaged result stores

DAMAGES = {"zarr": ("delete", "random", "flip", "truncate", "empty", "json", "append"),
           "nc": ("flip", "truncate", "append", "random-block")}


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict:
    """A small run written as .zarr (with saved trajectories) and as .nc, and what
    ``hedgesim show`` prints for each: {kind: (path, stdout)}."""
    d = tmp_path_factory.mktemp("stores")
    out = {}
    for kind, extra in (("zarr", ["--save-paths", "3"]), ("nc", [])):
        argv = ["run", str(ROOT / "configs" / "default.toml"), "--paths", "2048", "--set", 'simulation.horizon="1d"',
                *extra, "--out", f"r.{kind}", "-q"]
        code, _, se, _ = invoke(argv, d, "writing the store")
        assert code == 0, se
        code, so, se, _ = invoke(["show", f"r.{kind}"], d, "showing the store")
        assert code == 0, se
        out[kind] = (d / f"r.{kind}", so)
    return out


def damage(r: random.Random, p: Path, kind: str) -> str:
    """Damage the store at ``p`` one way; returns what was done."""
    files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
    f = r.choice(files)
    how = r.choice(DAMAGES[kind])
    data = f.read_bytes()
    if how == "delete":
        f.unlink()
    elif how == "random":
        f.write_bytes(bytes(r.randrange(256) for _ in range(len(data))))
    elif how == "flip" and data:
        b = bytearray(data)
        b[r.randrange(len(b))] ^= 1 << r.randrange(8)
        f.write_bytes(bytes(b))
    elif how == "truncate":
        f.write_bytes(data[:r.randrange(len(data))] if data else b"")
    elif how == "empty":
        f.write_bytes(b"")
    elif how == "json":
        f.write_bytes(r.choice([b'{"garbled": ', b"[]", b'{"zarr_format": 9}', b"\x00" * 10]))
    elif how == "append":
        f.write_bytes(data + b"junk" * r.randint(1, 100))
    elif how == "random-block":
        b = bytearray(data)
        k = r.randrange(len(b))
        b[k:k + 64] = bytes(r.randrange(256) for _ in range(64))
        f.write_bytes(bytes(b[:len(data)]))
    return f"{how} {f.relative_to(p.parent)}"


def run_damage_case(i: int, base: Path, stores: dict, seed: int = SEED) -> str:
    """A copy of a good store, damaged one way, read by ``show`` (or ``report``): exit 2
    with one line and nothing written, or exit 0 printing exactly what the good store
    prints (the damage did not touch what is read)."""
    r = random.Random(f"{seed}:damage:{i}")
    kind = r.choice(["zarr", "zarr", "nc"])
    good, reference = stores[kind]
    case_dir = base / f"damage{i}"
    case_dir.mkdir(parents=True)
    p = case_dir / good.name
    shutil.copytree(good, p) if good.is_dir() else shutil.copy(good, p)
    what = damage(r, p, kind)
    command = "report" if kind == "zarr" and r.random() < 0.15 else "show"
    argv = [command, p.name] + (["--out", "rep"] if command == "report" else [])
    before = snapshot(case_dir)
    code, so, se, kinds = invoke(argv, case_dir, f"damage case {i} (seed {seed}, {what})")
    where = f"damage case {i} (seed {seed}): {what}; hedgesim {short(argv)}\nstdout: {so[-2000:]}\nstderr: {se[-1000:]}"
    refused = check_refusal(code, so, se, kinds, before, snapshot(case_dir), where)
    if refused:
        return "damaged: " + refused
    assert code == 0, f"{where}\nexit status {code!r}"
    if command == "show":
        assert so == reference, f"{where}\ndamage read as data: the table differs from the good store's"
    return "damaged: exit 0 (damage not in what is read)"


OUTCOMES: dict[int, str] = {}
DAMAGE_QUICK = 60


@pytest.mark.parametrize("i", range(QUICK))
def test_fuzz_case(i, tmp_path):
    OUTCOMES[i] = run_case(i, tmp_path)


@pytest.mark.parametrize("i", range(DAMAGE_QUICK))
def test_damaged_store_case(i, tmp_path, stores):
    OUTCOMES[-1 - i] = run_damage_case(i, tmp_path, stores)


def test_outcome_classes(tmp_path, capsys, stores):
    """Both exits occur, each command succeeds sometimes and fails sometimes (the
    generator reaches past validation); the counts are printed (pytest -s)."""
    for i in range(QUICK):
        if i not in OUTCOMES:
            OUTCOMES[i] = run_case(i, tmp_path)
    for i in range(DAMAGE_QUICK):
        if -1 - i not in OUTCOMES:
            OUTCOMES[-1 - i] = run_damage_case(i, tmp_path, stores)
    classes = Counter(OUTCOMES.values())
    per_command = Counter((make_case(i)[0][0], OUTCOMES[i] == "exit 0") for i in range(QUICK))
    assert classes["damaged: exit 2 ResultFileError"] >= DAMAGE_QUICK // 2
    with capsys.disabled():
        print(f"\nfuzz: {QUICK} + {DAMAGE_QUICK} damaged-store cases (seed {SEED}): "
              + ", ".join(f"{k}: {v}" for k, v in sorted(classes.items())))
        print("fuzz: exit 0 / exit 2 per command: " + ", ".join(
            f"{c} {per_command[(c, True)]}/{per_command[(c, False)]}" for c in COMMANDS))
    assert classes["exit 0"] >= QUICK // 10
    assert sum(v for k, v in classes.items() if k.startswith("exit 2")) >= QUICK // 4
    assert {"exit 2 ConfigError", "exit 2 DataError"} <= set(classes)
    for c in COMMANDS:
        assert per_command[(c, True)] > 0 and per_command[(c, False)] > 0, c


@pytest.mark.fuzz
def test_fuzz_long(tmp_path, request):
    """``pytest -m fuzz tests/test_fuzz.py``: HEDGESIM_FUZZ_CASES more cases (after the
    quick ones; one in six a damaged store); every failure is listed."""
    if "fuzz" not in (request.config.option.markexpr or ""):
        pytest.skip("run with -m fuzz (HEDGESIM_FUZZ_CASES cases, default 5000)")
    stores = request.getfixturevalue("stores")
    failures, classes = [], Counter()
    for i in range(QUICK, QUICK + LONG):
        try:
            if i % 6 == 5:
                classes[run_damage_case(DAMAGE_QUICK + i, tmp_path, stores)] += 1
            else:
                classes[run_case(i, tmp_path)] += 1
        except AssertionError as exc:
            failures.append(str(exc))
    print(f"\nfuzz: {LONG} cases (seed {SEED}): " + ", ".join(f"{k}: {v}" for k, v in sorted(classes.items())))
    assert not failures, f"{len(failures)} of {LONG} cases failed:\n\n" + "\n\n".join(failures[:20])
