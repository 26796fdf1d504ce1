"""Examples that cannot go stale: every marked block of README.md and docs/**/*.md is
the real output of the commands it shows.

    python -m tools.docs_examples              # regenerate every example (make docs-examples)
    python -m tools.docs_examples --cheap      # only the cheap ones
    python -m tools.docs_examples --only ID    # one example (repeatable)
    python -m tools.docs_examples --check      # re-run the cheap ones, fail with a diff (make docs-check)
    python -m tools.docs_examples --list       # the examples, cheap or not, and where they are

**Markers.** An HTML comment on the line before a fenced block (invisible on the page):

    <!-- example: id=run-errors cheap=true status=2 -->
    ```
    $ .venv/bin/hedgesim run configs/default.toml --set market.sigma=7
    hedgesim: error: market.sigma = 7: ...
    ```

The commands are the block's own ``$ `` lines (a line ending in ``\\`` continues on the
next one), so the command shown is the command run. Each runs with ``bash -c`` from the
repository root, one after the other (a later command may read what an earlier one
wrote), with stdout and stderr merged as a terminal shows them; the block is rewritten
as each command line followed by its output. Attributes:

- ``id`` (required, unique across the files): names the example for ``--only`` and ``same``;
- ``cheap`` (``true``/``false``, default ``false``): cheap examples (each well under
  ~20 s on the 2-core machine) are re-run by ``--check`` in CI; expensive ones (1,000,000-path
  runs, the backtest, market-history files) only by ``make docs-examples``, and carry the
  line ``*Produced at commit ... on ... by make docs-examples ...*`` after the block;
- ``status`` (default ``0``): the exit status every command of the block must return;
- ``timeout`` (seconds; default 900 cheap, 7200 expensive: generous, for a loaded machine);
- ``kind=python``: the block is Python code, run with this interpreter from the
  repository root; its output is the ```` ```text ```` block that follows it (written by
  the tool);
- ``same=ID``: this block shows the same commands as example ID (e.g. the README and
  the tutorial); its text is copied from there instead of being run again.

**Machine-dependent text.** Two kinds of rules, stated here and applied by ``normalise``:

1. *Dropped* before writing and comparing (they depend on the state of the machine, not
   on the code): hedgesim's notes that numba is compiling its kernels and that an
   existing result is being replaced.
2. *Rewritten* when writing: the repository's absolute path becomes relative
   (``/abs/checkout/results`` -> ``results``), and so does its parent folder's
   (``/abs/shared/data`` -> ``../shared/data``, where the market-history files are).
3. *Masked* only when comparing (the docs keep the real figure of the machine that
   produced them): durations printed as a number followed by `` s`` (wall time, band time,
   "took 12 s"), ``M path-steps/s``, ``kpath/s`` and thread counts (``on 2 threads``),
   ISO timestamps with a time of day (``2026-12-01T13:05:09Z``), and temporary folders
   (``/tmp/...``).

Everything else - every simulated figure - must match to the last digit: the simulator
is bitwise reproducible for a config and seed, whatever the machine's thread count.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import re
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MARKER = re.compile(r"^(?P<indent>[ \t]*)<!-- example: (?P<attrs>.*?) -->[ \t]*$")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+)(?P<lang>[\w+-]*)[ \t]*$")
PRODUCED = re.compile(r"^[ \t]*\*Produced at commit \S+ on \d{4}-\d\d-\d\d by `make docs-examples`.*\*[ \t]*$")

# rule 1: lines dropped (state of the machine)
DROP = [
    re.compile(r"^hedgesim: compiling kernels"),
    re.compile(r"^hedgesim: (note: )?replacing "),
]
# rule 3: masks applied only when comparing
MASKS = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"), "<timestamp>"),
    (re.compile(r"\d[\d,]*(\.\d+)?\s?[kMG]?\s?(path-steps|paths|path)/s"), "<rate>"),
    (re.compile(r"\b\d[\d,]*(\.\d+)? s\b"), "<seconds> s"),
    (re.compile(r"\bon \d+ threads?\b"), "on <n> threads"),
    (re.compile(r"/tmp/[^\s'\"]*"), "<tmp>"),
]

DEFAULT_FILES = ("README.md", "docs")


class ExampleError(Exception):
    """A marker or block that cannot be parsed, or a command that failed."""


@dataclasses.dataclass
class Example:
    path: Path
    start: int  # index of the marker line
    end: int  # index one past the managed region (fences, output block, provenance line)
    indent: str
    attrs: dict
    lang: str
    body: list[str]  # lines of the (first) block, without indentation
    output: list[str] | None  # kind=python: lines of the output block
    produced: str | None  # the provenance line, if any

    @property
    def id(self) -> str:
        return self.attrs["id"]

    @property
    def cheap(self) -> bool:
        return self.attrs.get("cheap", "false") == "true"

    @property
    def kind(self) -> str:
        return self.attrs.get("kind", "shell")

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path}:{self.start + 1}"

    def text(self) -> list[str]:
        """What the example shows: the block's lines (and the output block's)."""
        return self.body + (["", "--- output ---"] + self.output if self.output is not None else [])


def _attrs(text: str, where: str) -> dict:
    out = {}
    for item in shlex.split(text):
        if "=" not in item:
            raise ExampleError(f"{where}: marker attribute {item!r} is not key=value")
        k, v = item.split("=", 1)
        if k not in ("id", "cheap", "status", "timeout", "kind", "same"):
            raise ExampleError(f"{where}: unknown marker attribute {k!r}")
        out[k] = v
    if "id" not in out:
        raise ExampleError(f"{where}: marker without id=")
    if out.get("cheap", "false") not in ("true", "false"):
        raise ExampleError(f"{where}: cheap= must be true or false")
    if out.get("kind", "shell") not in ("shell", "python"):
        raise ExampleError(f"{where}: kind= must be shell or python")
    return out


def _block(lines: list[str], i: int, indent: str, where: str) -> tuple[str, list[str], int]:
    """The fenced block opening at line i: (lang, body lines, index after the closing fence)."""
    m = FENCE.match(lines[i]) if i < len(lines) else None
    if not m or m["indent"] != indent:
        raise ExampleError(f"{where}: an example marker must be followed by a fenced block at the same indentation")
    fence = m["fence"]
    body = []
    j = i + 1
    while j < len(lines):
        if lines[j].strip() == fence and lines[j].startswith(indent):
            return m["lang"], body, j + 1
        body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
        j += 1
    raise ExampleError(f"{where}: fenced block not closed")


def parse(path: Path) -> list[Example]:
    lines = path.read_text(encoding="utf-8").split("\n")
    found = []
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if not m:
            f = FENCE.match(lines[i])
            if f:  # a fenced block without a marker: skip it whole (it may show a marker as text)
                i += 1
                while i < len(lines) and lines[i].strip() != f["fence"]:
                    i += 1
            i += 1
            continue
        where = f"{path}:{i + 1}"
        attrs = _attrs(m["attrs"], where)
        indent = m["indent"]
        lang, body, j = _block(lines, i + 1, indent, where)
        output = None
        if attrs.get("kind") == "python":
            k = j + 1 if j < len(lines) and lines[j].strip() == "" else j
            if k < len(lines) and FENCE.match(lines[k]) and FENCE.match(lines[k])["lang"] == "text":
                _, output, j = _block(lines, k, indent, where)
            else:
                output = []
        produced = None
        if j < len(lines) and PRODUCED.match(lines[j]):
            produced = lines[j].strip()
            j += 1
        found.append(Example(path, i, j, indent, attrs, lang, body, output, produced))
        i = j
    return found


def files(args: list[str] | None = None) -> list[Path]:
    out = []
    for a in args or DEFAULT_FILES:
        p = (ROOT / a) if not Path(a).is_absolute() else Path(a)
        out += sorted(p.rglob("*.md")) if p.is_dir() else [p]
    return out


def collect(paths: list[Path]) -> list[Example]:
    examples = [e for p in paths for e in parse(p)]
    seen: dict[str, Example] = {}
    for e in examples:
        if e.id in seen:
            raise ExampleError(f"{e.where}: example id {e.id!r} also used at {seen[e.id].where}")
        seen[e.id] = e
    for e in examples:
        if "same" in e.attrs and e.attrs["same"] not in seen:
            raise ExampleError(f"{e.where}: same={e.attrs['same']} names no example")
    return examples


# ---- commands of a block ------------------------------------------------------------------

def commands(body: list[str], where: str = "") -> list[str]:
    """The ``$ `` lines of a shell block, continuation lines joined as written."""
    cmds: list[str] = []
    cont = False
    for line in body:
        if cont:
            cmds[-1] += "\n" + line
            cont = line.rstrip().endswith("\\")
        elif line.startswith("$ "):
            cmds.append(line[2:])
            cont = line.rstrip().endswith("\\")
    if not cmds:
        raise ExampleError(f"{where}: a shell example needs at least one '$ ' command line")
    return cmds


def _env() -> dict:
    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1", "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
    env.pop("HEDGESIM_FUZZ_CASES", None)
    return env


def _run(cmd: list[str] | str, e: Example, stdin: str | None = None) -> str:
    timeout = float(e.attrs.get("timeout", 900 if e.cheap else 7200))
    try:
        if isinstance(cmd, str):
            cmd = "set -o pipefail\n" + cmd  # a pipe fails when its first command does
        # bytes, decoded here: text mode's universal newlines would turn a progress bar's
        # carriage returns into line breaks before ``clean`` can keep what was left on screen
        r = subprocess.run(cmd, cwd=ROOT, env=_env(), input=None if stdin is None else stdin.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           shell=isinstance(cmd, str), executable="/bin/bash" if isinstance(cmd, str) else None)
    except subprocess.TimeoutExpired:
        raise ExampleError(f"{e.where}: example {e.id}: timed out after {timeout:g} s") from None
    want = int(e.attrs.get("status", 0))
    if r.returncode != want:
        tail = "\n".join(r.stdout.decode(errors="replace").splitlines()[-15:])
        raise ExampleError(f"{e.where}: example {e.id}: exit status {r.returncode}, expected {want}:\n{tail}")
    return r.stdout.decode(errors="replace")


def clean(text: str) -> list[str]:
    """Rules 1 and 2: drop state-dependent lines, make the repository's path relative."""
    root, parent = str(ROOT), str(ROOT.parent)
    out = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if "\r" in line:  # a progress bar redrawn in place: keep what was left on screen
            line = line.rsplit("\r", 1)[-1]
        if any(d.search(line) for d in DROP):
            continue
        line = line.replace(root + "/", "").replace(root, ".")
        out.append(line.replace(parent + "/", "../").rstrip())
    while out and out[-1] == "":
        out.pop()
    return out


def normalise(lines: list[str]) -> list[str]:
    """Rule 3 (and 1 again): the text compared between the docs and a fresh run."""
    out = []
    for line in lines:
        if any(d.search(line) for d in DROP):
            continue
        for pat, rep in MASKS:
            line = pat.sub(rep, line)
        out.append(line.rstrip())
    return out


def produce(e: Example, by_id: dict[str, Example], done: dict[str, tuple]) -> tuple[list[str], list[str] | None]:
    """Run the example: the new (body, output) it should show."""
    if "same" in e.attrs:
        src = by_id[e.attrs["same"]]
        if src.id in done:
            return done[src.id]
        return src.body, src.output
    if e.kind == "python":
        code = "\n".join(e.body) + "\n"
        return e.body, clean(_run([sys.executable, "-"], e, stdin=code))
    body: list[str] = []
    for cmd in commands(e.body, e.where):
        body += ("$ " + cmd).split("\n")
        body += clean(_run(cmd, e))
    return body, None


# ---- writing ------------------------------------------------------------------------------

def _git_head() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(e: Example, body: list[str], output: list[str] | None, produced: str | None) -> list[str]:
    ind = e.indent
    fence = "```"
    while any(line.startswith(fence) for line in body + (output or [])):
        fence += "`"
    lines = [ind + f"<!-- example: {_attrs_text(e.attrs)} -->", ind + fence + e.lang]
    lines += [(ind + line) if line else "" for line in body]
    lines.append(ind + fence)
    if output is not None:
        lines += ["", ind + fence + "text"] + [(ind + line) if line else "" for line in output] + [ind + fence]
    if produced:
        lines.append(ind + produced)
    return lines


def _attrs_text(attrs: dict) -> str:
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in attrs.items())


def _write_back(e: Example, body: list[str], output: list[str] | None, produced: str | None) -> bool:
    """Replace example ``e`` in its file (parsed again: an earlier rewrite may have moved it)."""
    now = {x.id: x for x in parse(e.path)}[e.id]
    lines = e.path.read_text(encoding="utf-8").split("\n")
    replacement = render(now, body, output, produced)
    if lines[now.start:now.end] == replacement:
        return False
    lines[now.start:now.end] = replacement
    e.path.write_text("\n".join(lines), encoding="utf-8")
    return True


def regenerate(examples: list[Example], selected: set[str] | None, cheap_only: bool, log=print) -> tuple[int, list[str]]:
    """Run the selected examples and rewrite each block as soon as it has run (a failure
    later leaves the earlier ones written); returns (blocks rewritten, errors)."""
    by_id = {e.id: e for e in examples}
    done: dict[str, tuple] = {}
    errors: list[str] = []
    n = 0
    for e in sorted(examples, key=lambda e: "same" in e.attrs):  # sources before their copies
        src = by_id[e.attrs.get("same", e.id)]
        if selected is not None and e.id not in selected and src.id not in selected:
            continue
        if cheap_only and not src.cheap:
            continue
        if src.id != e.id and src.id in {x.split(":")[0] for x in errors}:
            continue
        t0 = time.perf_counter()
        try:
            body, output = produce(e, by_id, done)
        except ExampleError as err:
            errors.append(f"{e.id}: {err}")
            log(f"FAILED  {e.id:28s} {time.perf_counter() - t0:7.1f} s  {e.where}")
            continue
        done[e.id] = (body, output)
        changed = normalise(body + (output or [])) != normalise(e.body + (e.output or []))
        if not changed:  # same text up to the masks: keep the page (and its provenance line) as it is
            body, output = e.body, e.output
        produced = None
        if not src.cheap:
            produced = e.produced
            if changed or not produced:
                produced = (f"*Produced at commit {_git_head()} on {datetime.now(timezone.utc):%Y-%m-%d} by "
                            f"`make docs-examples` (not re-run in CI: too slow).*")
        n += _write_back(e, body, output, produced)
        log(f"{'changed' if changed else 'same   '} {e.id:28s} {time.perf_counter() - t0:7.1f} s  {e.where}")
    return n, errors


def check(examples: list[Example], selected: set[str] | None = None, log=print) -> list[str]:
    """Re-run the cheap examples; a unified diff (masked text) for each that differs."""
    by_id = {e.id: e for e in examples}
    failures = []
    done: dict[str, tuple] = {}
    for e in sorted(examples, key=lambda e: "same" in e.attrs):
        src = by_id[e.attrs.get("same", e.id)]
        if selected is not None and e.id not in selected:
            continue
        if not src.cheap and "same" not in e.attrs:  # a copy is compared with its source: no run
            continue
        t0 = time.perf_counter()
        try:
            body, output = produce(e, by_id, done)
        except ExampleError as err:
            failures.append(str(err))
            log(f"FAILED  {e.id:28s} {time.perf_counter() - t0:7.1f} s  {e.where}")
            continue
        done[e.id] = (body, output)
        old, fresh = normalise(e.text()), normalise(body + (["", "--- output ---"] + output if output is not None else []))
        ok = old == fresh
        log(f"{'ok     ' if ok else 'DIFFERS'} {e.id:28s} {time.perf_counter() - t0:7.1f} s  {e.where}")
        if not ok:
            diff = "\n".join(difflib.unified_diff(old, fresh, f"{e.where} (in the docs)", f"{e.id} (what the code prints now)", lineterm=""))
            failures.append(f"{e.where}: example {e.id} differs from what the code prints:\n{diff}")
    return failures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.docs_examples", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", help="Markdown files or folders (default: README.md and docs/)")
    p.add_argument("--check", action="store_true", help="re-run the cheap examples and fail with a diff when one differs")
    p.add_argument("--cheap", action="store_true", help="regenerate only the cheap examples")
    p.add_argument("--only", action="append", metavar="ID", help="only this example (repeatable)")
    p.add_argument("--list", action="store_true", help="list the examples")
    a = p.parse_args(argv)
    try:
        examples = collect(files(a.files))
        selected = set(a.only) if a.only else None
        if selected:
            unknown = selected - {e.id for e in examples}
            if unknown:
                raise ExampleError(f"no example with id {', '.join(sorted(unknown))}")
        if a.list:
            for e in examples:
                kind = "same as " + e.attrs["same"] if "same" in e.attrs else ("cheap" if e.cheap else "expensive")
                print(f"{e.id:28s} {kind:20s} {e.where}")
            cheap = sum(1 for e in examples if e.cheap and "same" not in e.attrs)
            print(f"{len(examples)} examples: {cheap} cheap, {len(examples) - cheap} expensive or copies")
            return 0
        t0 = time.perf_counter()
        if a.check:
            failures = check(examples, selected)
            took = time.perf_counter() - t0
            if failures:
                print("\n\n".join(failures), file=sys.stderr)
                print(f"\ndocs-check: {len(failures)} example(s) differ from the code ({took:.0f} s); "
                      "regenerate with `make docs-examples` (or python -m tools.docs_examples --only ID) "
                      "and review the diff", file=sys.stderr)
                return 1
            print(f"docs-check: every cheap example matches the code ({took:.0f} s)")
            return 0
        n, errors = regenerate(examples, selected, a.cheap)
        print(f"docs-examples: {n} block(s) rewritten ({time.perf_counter() - t0:.0f} s)")
        if errors:
            print("\n\n".join(errors), file=sys.stderr)
            print(f"docs-examples: {len(errors)} example(s) failed", file=sys.stderr)
            return 1
        return 0
    except ExampleError as err:
        print(f"docs-examples: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
