"""The report folder (issue 12, item 1): ``hedgesim report --out DIR`` writes into a new or
empty folder or one holding hedgesim's manifest ``hedgesim-report.json``, never overwrites
or deletes a file the manifest does not list (nor one changed since), removes stale files
of its own previous report only, and leaves the folder as it was when anything fails
(sim/report/folder.py, docs/report.md).

The rules are checked on ``ReportFolder`` with small byte strings (fast); the command line
once end to end on a real result.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from sim.errors import InterruptedAfterWrite, UsageError
from sim.report import folder as folder_mod
from sim.report.folder import MANIFEST, ReportFolder

NAMES = frozenset({"pnl.png", "fan_chart.png", "funding.png", "report.html"})
A = {"pnl.png": b"png-a", "fan_chart.png": b"fan-a", "report.html": b"<html>a</html>"}
B = {"pnl.png": b"png-b", "report.html": b"<html>b</html>"}


def snapshot(d: Path) -> dict[str, bytes | None]:
    """Every entry under ``d`` (hidden ones too) with its bytes (None for a folder)."""
    if not d.exists():
        return {}
    return {str(p.relative_to(d)): (p.read_bytes() if p.is_file() else None) for p in sorted(d.rglob("*"))}


def write(out: Path, files: dict[str, bytes]) -> list[Path]:
    return ReportFolder(out, NAMES).write(files, "r.zarr")


def refused(out: Path, files: dict[str, bytes], *words: str) -> None:
    before = snapshot(out)
    with pytest.raises(UsageError) as e:
        write(out, files)
    msg = str(e.value)
    assert "\n" not in msg and str(out) in msg and all(w in msg for w in words), msg
    assert snapshot(out) == before


def manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- where it writes


def test_new_folder_with_parents(tmp_path):
    out = tmp_path / "a" / "b" / "rep"
    paths = write(out, A)
    assert paths == [out / n for n in A]
    assert snapshot(out) == {**A, MANIFEST: (out / MANIFEST).read_bytes()}
    m = manifest(out)
    assert m["format"] == "hedgesim-report" and m["format_version"] == 1 and set(m["files"]) == set(A)
    assert not [p for p in (tmp_path / "a" / "b").iterdir() if p.name.startswith(".")]  # no temporary left


def test_empty_folder(tmp_path):
    (tmp_path / "rep").mkdir()
    write(tmp_path / "rep", A)
    assert set(snapshot(tmp_path / "rep")) == set(A) | {MANIFEST}


def test_refuses_a_users_report_html(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.html").write_text("my own report")
    (out / "pnl.png").write_bytes(b"my own figure")
    refused(out, A, "'report.html'", "did not write it")


def test_refuses_a_folder_that_is_not_a_report_folder(tmp_path):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "NOTES.txt").write_text("x")
    refused(out, A, "'NOTES.txt'", MANIFEST)


def test_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        ReportFolder(tmp_path / "f", NAMES)


@pytest.mark.parametrize("text", ["{not json", "[]", '{"format": "other", "format_version": 1, "files": {}}',
                                  '{"format": "hedgesim-report", "format_version": "1", "files": {}}'])
def test_refuses_a_manifest_it_did_not_write(tmp_path, text):
    out = tmp_path / "rep"
    out.mkdir()
    (out / MANIFEST).write_text(text)
    refused(out, A, MANIFEST)


def test_refuses_a_newer_manifest(tmp_path):
    out = tmp_path / "rep"
    write(out, A)
    m = manifest(out)
    m["format_version"] = 99
    (out / MANIFEST).write_text(json.dumps(m))
    refused(out, B, "format_version 99")


# --------------------------------------------------------------------------- a folder of its own


def test_replaces_its_own_report_keeps_the_users_files_and_removes_its_stale_ones(tmp_path):
    out = tmp_path / "rep"
    write(out, A)
    (out / "MY_NOTES.txt").write_text("keep me")
    write(out, B)
    snap = snapshot(out)
    assert {k: v for k, v in snap.items() if k != MANIFEST} == {**B, "MY_NOTES.txt": b"keep me"}
    assert set(manifest(out)["files"]) == set(B)  # fan_chart.png was listed by the old manifest: removed


def test_a_users_file_of_a_report_name(tmp_path):
    out = tmp_path / "rep"
    write(out, B)
    (out / "fan_chart.png").write_bytes(b"the user's own")
    write(out, B)  # not listed, not written by this report: left alone
    assert (out / "fan_chart.png").read_bytes() == b"the user's own"
    refused(out, A, "'fan_chart.png'", "did not write it")  # this report would overwrite it


def test_a_changed_file_is_no_longer_its_own(tmp_path):
    out = tmp_path / "rep"
    write(out, A)
    (out / "report.html").write_text("edited by hand")
    refused(out, A, "'report.html'", "changed since")
    (out / "report.html").write_bytes(A["report.html"])
    (out / "fan_chart.png").write_bytes(b"annotated by hand")
    write(out, B)  # a changed stale file is not removed (and no longer listed)
    assert (out / "fan_chart.png").read_bytes() == b"annotated by hand"
    assert set(manifest(out)["files"]) == set(B)


def test_names_a_manifest_lists_beyond_the_reports_are_never_touched(tmp_path):
    out = tmp_path / "rep"
    write(out, A)
    (out / "MY_NOTES.txt").write_text("keep me")
    m = manifest(out)
    m["files"]["MY_NOTES.txt"] = {"sha256": folder_mod.sha256(b"keep me")}
    m["files"]["../outside.txt"] = {"sha256": "0" * 64}
    (out / MANIFEST).write_text(json.dumps(m))
    (tmp_path / "outside.txt").write_text("outside")
    write(out, B)
    assert (out / "MY_NOTES.txt").read_text() == "keep me" and (tmp_path / "outside.txt").exists()


# --------------------------------------------------------------------------- failures leave the folder as it was


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
@pytest.mark.parametrize("existing", [False, True])
def test_a_failure_while_writing_leaves_the_folder_as_it_was(tmp_path, monkeypatch, exc, existing):
    out = tmp_path / "new" / "rep"
    if existing:
        write(out, A)
        (out / "MY_NOTES.txt").write_text("keep me")
    before, parent = snapshot(out), snapshot(tmp_path)

    def fail(tmp, files, doc):
        (tmp / "pnl.png").write_bytes(b"half")
        raise exc

    monkeypatch.setattr(folder_mod, "_fill", fail)
    with pytest.raises(UsageError if isinstance(exc, OSError) else KeyboardInterrupt) as e:
        write(out, B)
    if isinstance(exc, OSError):
        assert "No space left on device" in str(e.value)
    assert snapshot(out) == before and snapshot(tmp_path) == parent  # no temporary, no parent folder left


def test_a_signal_while_the_files_move_in_is_held_until_they_are_in(tmp_path, monkeypatch):
    out = tmp_path / "rep"
    write(out, A)
    real = os.replace
    sent = []

    def replace(a, b):
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)  # held by sim.results.signals.held
        real(a, b)

    monkeypatch.setattr(folder_mod.os, "replace", replace)
    with pytest.raises(InterruptedAfterWrite) as e:
        write(out, B)
    assert e.value.path == str(out) and e.value.signal == "SIGINT"
    assert {k: v for k, v in snapshot(out).items() if k != MANIFEST} == B  # the report is complete
    assert set(manifest(out)["files"]) == set(B)


def test_sweeps_its_own_old_temporaries_only(tmp_path):
    out = tmp_path / "rep"
    write(out, A)
    old = time.time() - 2 * folder_mod.SWEEP_AGE_S
    mine, fresh, foreign = (out / ".hedgesim-report.tmp-0000aaaa", out / ".hedgesim-report.tmp-0000bbbb",
                            out / ".hedgesim-report.tmp-0000cccc")
    for d in (mine, fresh, foreign):
        d.mkdir()
        (d / "pnl.png").write_bytes(b"x")
    (foreign / "data.csv").write_text("not a report file")
    os.utime(mine, (old, old))
    os.utime(foreign, (old, old))
    new_tmp = tmp_path / ".rep2.hedgesim-report.tmp-0000dddd"  # beside a folder that does not exist yet
    new_tmp.mkdir()
    (new_tmp / "report.html").write_bytes(b"x")
    os.utime(new_tmp, (old, old))
    write(out, B)
    write(tmp_path / "rep2", B)
    assert not mine.exists() and fresh.exists() and foreign.exists() and not new_tmp.exists()


# --------------------------------------------------------------------------- the command line


def test_cli_report_folder_rules(cli, tmp_path):
    pytest.importorskip("matplotlib")
    result = tmp_path / "r.zarr"
    code, _, err = cli(["run", Path(__file__).resolve().parents[2] / "configs" / "seed_example.toml", "--paths",
                        "2000", "-q", "--set", "simulation.horizon=2d", "--out", result])
    assert code == 0, err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("my own report")
    before = snapshot(mine)
    code, out, err = cli(["report", result, "--out", mine])
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("hedgesim: error:"), err
    assert "'report.html'" in err and snapshot(mine) == before
    code, out, err = cli(["report", result, "--out", tmp_path / "rep"])
    assert code == 0 and out.splitlines()[-1].endswith("report.html"), err
    (tmp_path / "rep" / "NOTES.txt").write_text("keep me")
    code, out, err = cli(["report", result, "--out", tmp_path / "rep"])  # again: its own folder
    assert code == 0 and (tmp_path / "rep" / "NOTES.txt").read_text() == "keep me", err
