"""The layouts of market-data CSVs: which column holds what, and how times are labelled.

Every layout of the project's market-data folder is recognised from its header
(``LAYOUTS``); any other file is read through an explicit column mapping
(``columns={"time": ..., "close": ..., ...}``, :func:`parse_columns` for the CLI's
``--price-columns``) or a generic guess (a time column such as ``timestamp``/``time``/
``date`` and a price column such as ``close``/``price``). A price path of a ``[[stress]]``
replay has its own fixed column names (:func:`path_layout`, ``PATH_COLUMNS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from sim.errors import DataError

PRICE_ROLES = ("open", "high", "low", "close")
PERP_ROLES = ("perp_open", "perp_high", "perp_low", "perp_close")
MAP_KEYS = ("time", *PRICE_ROLES, *PERP_ROLES, "funding", "spot", "perp", "funding_interval", "label",
            "utc_offset", "unit")


def norm_header(name: str) -> str:
    """A header as matched against the layouts: lower case, blanks and dashes as ``_``."""
    return "_".join(str(name).strip().lower().replace("-", " ").split())


@dataclass(frozen=True)
class Layout:
    """Which column holds what in one kind of file, and what its times label."""

    name: str
    description: str
    required: tuple[str, ...]  # normalised header names that identify the layout
    roles: Mapping[str, str]  # role -> normalised header name
    label: str  # "open": time = bar open; "end": time = bar end; "point": an observation at that time
    utc_offset_h: float = 0.0


LAYOUTS: tuple[Layout, ...] = (
    Layout("spot-perp-8h", "Bybit/Binance 8-hourly spot and perpetual OHLC with funding (Timestamp = bar end, UTC)",
           ("timestamp", "close_spot", "close_futures"),
           {"time": "timestamp", "open": "open_spot", "high": "high_spot", "low": "low_spot", "close": "close_spot",
            "perp_open": "open_futures", "perp_high": "high_futures", "perp_low": "low_futures",
            "perp_close": "close_futures", "funding": "funding_rate", "spot": "close_spot", "perp": "close_futures"},
           "end"),
    Layout("cryptocompare-dailyfiles", "CryptoCompare hourly OHLC, upper-case columns (TIME_UNIX = bar open)",
           ("time_unix", "close_price"),
           {"time": "time_unix", "open": "open_price", "high": "high_price", "low": "low_price",
            "close": "close_price"}, "open"),
    Layout("cryptocompare-hourly", "CryptoCompare hourly OHLC, columns O,H,C,L (time = bar open, Unix s)",
           ("time", "date", "hour", "open", "high", "close", "low"),
           {"time": "time", "open": "open", "high": "high", "low": "low", "close": "close"}, "open"),
    Layout("cryptodatadownload", "CryptoDataDownload OHLC (Unix Timestamp = bar open, s or ms, newest first)",
           ("unix_timestamp", "open", "high", "low", "close"),
           {"time": "unix_timestamp", "open": "open", "high": "high", "low": "low", "close": "close"}, "open"),
    Layout("cryptodatadownload-unix", "CryptoDataDownload OHLC (unix = bar open, s or ms, newest first)",
           ("unix", "open", "high", "low", "close"),
           {"time": "unix", "open": "open", "high": "high", "low": "low", "close": "close"}, "open"),
    Layout("binance-klines", "Binance klines (Open time = bar open, UTC)",
           ("open_time", "open", "high", "low", "close", "close_time"),
           {"time": "open_time", "open": "open", "high": "high", "low": "low", "close": "close"}, "open"),
    Layout("deribit-funding-index", "Deribit hourly funding with its index (timestamp in ms, UTC; the local-time "
           "time_dt column is ignored)", ("timestamp", "interest_8h", "index_price"),
           {"time": "timestamp", "close": "index_price", "funding": "interest_8h"}, "point"),
    Layout("bitmex-funding", "BitMEX funding history (timestamp = settlement, UTC)",
           ("timestamp", "fundingrate", "fundinginterval"),
           {"time": "timestamp", "funding": "fundingrate", "funding_interval": "fundinginterval"}, "point"),
    Layout("bitmex-trades", "BitMEX trades (timestamp = trade time, UTC)", ("timestamp", "price", "trdmatchid"),
           {"time": "timestamp", "close": "price"}, "point"),
    Layout("linear-funding-utc+3", "funding history with Date in local time UTC+3 (shifted to UTC)",
           ("symbol", "date", "funding_rate"), {"time": "date", "funding": "funding_rate"}, "point", 3.0),
    Layout("daily-funding-mean", "daily mean of 8-hourly funding rates (date = the day)",
           ("date", "funding_mean"), {"time": "date", "funding": "funding_mean"}, "open"),
    Layout("daily-close", "daily closes (date = the day, price = its close)", ("date", "price"),
           {"time": "date", "close": "price"}, "open"),
)

TIME_CANDIDATES = ("timestamp", "unix_timestamp", "unix", "time_unix", "time", "open_time", "datetime", "date")
GENERIC = {
    "open": ("open", "open_price", "open_spot"),
    "high": ("high", "high_price", "high_spot"),
    "low": ("low", "low_price", "low_spot"),
    "close": ("close", "close_price", "close_spot", "price", "index_price", "mark", "mark_price"),
    "perp_open": ("open_futures", "open_perp", "perp_open"),
    "perp_high": ("high_futures", "high_perp", "perp_high"),
    "perp_low": ("low_futures", "low_perp", "perp_low"),
    "perp_close": ("close_futures", "close_perp", "perp_close", "perp_price"),
    "funding": ("funding_rate", "fundingrate", "funding", "rate", "interest_8h"),
}


def parse_columns(spec: str | None) -> dict | None:
    """``"time=Timestamp,close=Close_futures,label=end"`` -> mapping (CLI option)."""
    if not spec:
        return None
    out = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise DataError(f"column mapping {spec!r}: item {item.strip()!r} is not KEY=COLUMN")
        k, v = (x.strip() for x in item.split("=", 1))
        if k not in MAP_KEYS:
            raise DataError(f"column mapping {spec!r}: unknown key {k!r}; keys are {', '.join(MAP_KEYS)}")
        out[k] = v
    return out


def pick_roles(norm: list[str], candidates: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """role -> the first of its candidate names that is in the (normalised) header."""
    roles = {}
    for role, cands in candidates.items():
        for c in cands:
            if c in norm:
                roles[role] = c
                break
    return roles


def detect_layout(path: str, header: list[str], mapping: Mapping | None, want: str) -> Layout:
    """The layout of a file: explicit mapping, a known layout, or a generic guess."""
    norm = [norm_header(h) for h in header]
    if mapping:
        roles = {}
        for k, v in mapping.items():
            if k in ("label", "utc_offset", "unit"):
                continue
            if norm_header(v) not in norm:
                raise DataError(f"data file {path!r}: column {v!r} (for {k}) not in the header "
                                f"({', '.join(header)})")
            roles[k] = norm_header(v)
        if "time" not in roles:
            raise DataError(f"data file {path!r}: the column mapping needs time=COLUMN")
        label = mapping.get("label", "open" if "high" in roles else "point")
        if label not in ("open", "end", "point"):
            raise DataError(f"column mapping: label={label!r}; use open (time = bar open), end (time = bar end) "
                            "or point (an observation at that time)")
        try:
            off = float(mapping.get("utc_offset", 0.0))
        except ValueError:
            off = math.nan
        if not (-24.0 <= off <= 24.0):  # also NaN and inf
            raise DataError(f"column mapping: utc_offset={mapping['utc_offset']!r} is not a number of hours "
                            "from -24 to 24")
        return Layout("explicit", "explicit column mapping", tuple(roles.values()), roles, label, off)
    for lay in LAYOUTS:
        if all(r in norm for r in lay.required):
            return lay
    roles = pick_roles(norm, {"time": TIME_CANDIDATES, **GENERIC})
    if "time" not in roles:
        raise DataError(f"data file {path!r}: no time column found (header: {', '.join(header)}); "
                        f"name it one of {', '.join(TIME_CANDIDATES)} or map it explicitly, e.g. "
                        "--price-columns time=MyTime,close=MyClose")
    need = "close" if want == "prices" else "funding"
    if need not in roles:
        what = "price (close)" if want == "prices" else "funding rate"
        raise DataError(f"data file {path!r}: no {what} column found (header: {', '.join(header)}); map it "
                        f"explicitly, e.g. --{want[:-1] if want == 'prices' else 'funding'}-columns "
                        f"time={header[norm.index(roles['time'])]},{need}=COLUMN")
    label = "open" if "high" in roles else "point"
    desc = "generic: " + ", ".join(f"{k}={header[norm.index(v)]}" for k, v in roles.items())
    return Layout("generic", desc, tuple(roles.values()), roles, label)


# a ``[[stress]]`` replay file: one time and one price column, optional funding (docs/stress.md)
PATH_COLUMNS = {
    "time": ("timestamp", "time", "date", "datetime"),
    "close": ("price", "close", "mark"),
    "funding": ("funding", "funding_rate", "rate"),
}


def path_layout(path: str, header: list[str]) -> Layout:
    """The columns of a price path: the first name of each ``PATH_COLUMNS`` role found in
    the header (time and price required); each row is an observation at its time."""
    norm = [norm_header(h) for h in header]
    roles = pick_roles(norm, PATH_COLUMNS)
    for role in ("time", "close"):
        if role not in roles:
            raise DataError(f"data file {path!r}: no column named one of {', '.join(PATH_COLUMNS[role])} "
                            f"(header: {', '.join(header)})")
    desc = "price path: " + ", ".join(f"{k}={header[norm.index(v)]}" for k, v in roles.items())
    return Layout("price-path", desc, tuple(roles.values()), roles, "point")
