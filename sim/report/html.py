"""``hedgesim report RESULT --out DIR``: the figures (PNG, ``sim.report.figures``) and one
self-contained report.html (docs/report.md).

``report.html`` embeds every figure (base64 PNG: no network, one file to send), the table
of ``hedgesim show`` with units, the config, seed, version and run time.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from sim.report.answer import answer_html
from sim.report.checks import check_result, reading
from sim.report import figures_band, figures_data
from sim.report.figures import FIGURE_NAMES, Figure, figures, stored_config
from sim.report.folder import ReportFolder
from sim.report.text import format_result
from sim.results import io
from sim.results.kinds import kind_of

REPORT_FILES = frozenset({f"{name}.png" for name in FIGURE_NAMES | figures_data.FIGURE_NAMES | figures_band.FIGURE_NAMES}
                         | {"report.html"})

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.92em}figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;margin-top:.3em}pre{background:#f7f7f7;padding:.8em;overflow-x:auto;
font-size:.82em;line-height:1.3}table.kv td{padding:.1em .8em .1em 0;font-size:.92em;vertical-align:top}
.note{color:#666;font-size:.9em}#answer{background:#f4f8fc;border:1px solid #cfe0f0;padding:.2em 1.2em .8em;
margin-top:1em}#answer p{margin:.5em 0}ul.assume{margin:.2em 0;padding-left:1.2em;font-size:.93em}
"""


def build_html(ds: xr.Dataset, figs: list[Figure], notes: list[str], source: str) -> str:
    a = ds.attrs
    esc = html.escape
    cfg = stored_config(ds)
    kinds = {"run": "simulation result", "margin": "margin curve", "frontier": "margin frontier (managed hedge)",
             "backtest": "walk-forward backtest"}
    if kind_of(ds) == "backtest":
        a = {**a, "model": a.get("models", ""), "paths": a.get("paths_per_forecast", 0),
             "horizon": f"windows of {a.get('window', '')} every {a.get('step', '')}", "dt": a.get("bar", "")}
    meta = [("result", source), ("kind", kinds.get(kind_of(ds), "?")),
            ("config", a.get("config_source", "")), ("model", a.get("model", "")),
            ("paths", f"{int(a.get('paths', 0)):,}"), ("seed", a.get("seed", "")),
            ("horizon", f"{a.get('horizon', '')} in steps of {a.get('dt', '')}"),
            ("hedgesim version", a.get("hedgesim_version", "")),
            ("simulation run time", _seconds(a.get("wall_time_s")) + (
                f" on {a['distributed_workers']} Dask workers" if a.get("distributed_workers") else
                f" on {a.get('threads', '?')} threads"))]
    if "band_wall_time_s" in a:
        meta.append(("model band run time", _seconds(a["band_wall_time_s"])
                     + (f" ({int(a['band_paths']):,} paths per model)" if "band_paths" in a else "")))
    meta += [("result written", a.get("created", "")),
             ("report made", time.strftime("%Y-%m-%d %H:%M:%S %Z"))]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>hedgesim report: {esc(str(a.get('config_source', source)))}</title>",
             f"<style>{CSS}</style></head><body>",
             f"<h1>hedgesim report</h1><p class=\"meta\">{esc(source)}</p>",
             answer_html(ds, cfg),
             '<section id="run"><h2>The run</h2><table class="kv">'
             + "".join(f"<tr><td><b>{esc(k)}</b></td><td>{esc(str(v))}</td></tr>" for k, v in meta)
             + "</table></section>",
             '<section id="summary"><h2>Summary</h2>', f"<pre>{esc(format_result(ds))}</pre></section>",
             '<section id="figures"><h2>Figures</h2>']
    for f in figs:
        b64 = base64.b64encode(f.png).decode("ascii")
        parts.append(f'<figure id="{f.name}" data-file="{f.name}.png"><h3>{esc(f.title)}</h3>'
                     f'<img alt="{esc(f.title)} ({f.name}.png)" src="data:image/png;base64,{b64}">'
                     f"<figcaption>{esc(f.caption)}</figcaption></figure>")
    for n in notes:
        parts.append(f'<p class="note">{esc(n)}</p>')
    parts += ["</section>", '<section id="config"><h2>Config</h2>', f"<pre>{esc(config_toml(cfg))}</pre></section>",
              "</body></html>"]
    return "\n".join(parts)


SECTION_IDS = ("answer", "run", "summary", "figures", "config")  # the <section>s of every report.html
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _seconds(x) -> str:
    try:
        s = float(x)
    except (TypeError, ValueError):
        return "not recorded"
    return "not recorded" if not math.isfinite(s) else f"{s:,.2f} s"


def config_toml(cfg: dict) -> str:
    """The resolved config as valid TOML: keys whose value is None are left out (TOML has
    no null; a comment line names them), top-level values before the tables."""
    dropped: list[str] = []

    def value(v, where: str):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        if isinstance(v, str):
            return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
        if isinstance(v, list):
            return "[" + ", ".join(value(x, where) for x in v if x is not None) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{key(k)} = {value(x, f'{where}.{k}')}" for k, x in v.items()
                                   if x is not None or dropped.append(f"{where}.{k}")) + "}"
        return json.dumps(str(v))

    def key(k) -> str:
        return k if _BARE.fullmatch(str(k)) else json.dumps(str(k))

    def body(d: dict, where: str) -> list[str]:
        out = []
        for k, v in d.items():
            if v is None:
                dropped.append(f"{where}{k}")
            else:
                out.append(f"{key(k)} = {value(v, where + str(k))}")
        return out

    top = {k: v for k, v in cfg.items() if not isinstance(v, dict)
           and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
    lines = body(top, "")
    for section, v in cfg.items():
        if isinstance(v, dict):
            lines += ["", f"[{key(section)}]", *body(v, f"{section}.")]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                lines += ["", f"[[{key(section)}]]", *body(item, f"{section}.")]
    text = "\n".join(lines).strip()
    if dropped:
        text = "# keys without a value (None: TOML has no null) are left out: " + ", ".join(dropped) + "\n\n" + text
    return text


def make_report(result: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the figures (PNG) and report.html of ``result`` into ``out_dir``; returns the
    files written (report.html last).

    The result is checked (``sim.report.checks``: a damaged or foreign one is a
    ``ResultFileError`` naming what is wrong) and every figure and the page are made in
    memory before anything is written; the folder's rules (``sim.report.folder``: only a
    new or empty folder or one holding hedgesim's manifest, never a file the manifest does
    not list) are checked before the figures are drawn and again before the files move in.
    """
    source = str(result)
    ds = check_result(io.read(result, lazy=True), source)  # per-path variables stay on disk
    folder = ReportFolder(out_dir, REPORT_FILES)
    with reading(ds, source), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        figs, notes = figures_data.figures(ds) if kind_of(ds) == "backtest" else figures(ds)
        figs += figures_band.figures(ds)
        page = build_html(ds, figs, notes, source)
    files = {f"{f.name}.png": f.png for f in figs}
    files["report.html"] = page.encode("utf-8")
    return folder.write(files, str(Path(result).absolute()))
