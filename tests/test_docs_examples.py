"""The examples of README.md and docs/ cannot go stale: tools.docs_examples re-runs a
marked block and fails with a diff when its text differs from what the code prints
(docs/writing-docs.md)."""

import re
from pathlib import Path

import pytest

from tools import docs_examples as dx

ROOT = Path(__file__).resolve().parents[1]


def _block(doc: str, example_id: str) -> str:
    """The marker line and the fenced block of one example of a real page."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    e = next(e for e in dx.parse(ROOT / doc) if e.id == example_id)
    return "\n".join(text.split("\n")[e.start:e.end]) + "\n"


def _page(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "page.md"
    p.write_text("# A page\n\n" + body + "\nAfter the block.\n", encoding="utf-8")
    return p


def test_check_fails_when_a_real_block_is_edited_by_hand(tmp_path):
    """The refused-sweep example of docs/sweeps.md, copied: as written it matches what the
    CLI prints; with one digit changed the checker fails and shows the line."""
    block = _block("docs/sweeps.md", "sweep-market-refused")
    assert dx.check(dx.collect([_page(tmp_path, block)]), log=lambda *_: None) == []

    out = block.split("\n")
    i = next(k for k, line in enumerate(out) if line.startswith("hedgesim: error:"))
    edited = "\n".join(out[:i] + ["hedgesim: error: sweep.\"market.sigma\": changes the simulated market; only position.*, "
                                  "exchange.* and funding.cap can be swept on common random numbers (run 2 separate configs instead)"]
                       + out[i + 1:])
    assert edited != block
    failures = dx.check(dx.collect([_page(tmp_path, edited)]), log=lambda *_: None)
    assert len(failures) == 1
    assert "sweep-market-refused" in failures[0] and "run 2 separate configs" in failures[0]
    assert failures[0].count("\n-") >= 1 and failures[0].count("\n+") >= 1  # a unified diff


def test_check_fails_on_one_changed_digit(tmp_path):
    body = "<!-- example: id=digits cheap=true -->\n```\n$ python3 -c 'print(12345 * 3)'\n37035\n```\n"
    assert dx.check(dx.collect([_page(tmp_path, body)]), log=lambda *_: None) == []
    failures = dx.check(dx.collect([_page(tmp_path, body.replace("37035", "37036"))]), log=lambda *_: None)
    assert len(failures) == 1 and "-37036" in failures[0] and "+37035" in failures[0]


def test_the_command_line_make_docs_check_exits_1_with_a_diff(tmp_path, capsys):
    body = "<!-- example: id=digits cheap=true -->\n```\n$ echo 'liquidation probability 4.17 %'\nliquidation probability 4.18 %\n```\n"
    page = _page(tmp_path, body)
    assert dx.main(["--check", str(page)]) == 1
    err = capsys.readouterr().err
    assert "-liquidation probability 4.18 %" in err and "+liquidation probability 4.17 %" in err
    assert dx.main([str(page)]) == 0  # regenerate: the block now holds the real output
    assert "liquidation probability 4.17 %" in page.read_text() and dx.main(["--check", str(page)]) == 0


def test_regenerate_writes_outputs_and_keeps_the_page_around_them(tmp_path):
    body = ("<!-- example: id=a cheap=true -->\n```\n$ echo one\nstale\n$ printf 'two\\nthree\\n'\n```\n\n"
            "Text between.\n\n"
            "<!-- example: id=py cheap=true kind=python -->\n```python\nprint(6 * 7)\n```\n\n"
            "  <!-- example: id=indented cheap=true -->\n  ```\n  $ echo indented\n  ```\n")
    page = _page(tmp_path, body)
    n, errors = dx.regenerate(dx.collect([page]), None, False, log=lambda *_: None)
    assert errors == [] and n == 3
    text = page.read_text()
    assert "$ echo one\none\n$ printf 'two\\nthree\\n'\ntwo\nthree\n```" in text
    assert "```python\nprint(6 * 7)\n```\n\n```text\n42\n```" in text
    assert "  ```\n  $ echo indented\n  indented\n  ```" in text
    assert text.startswith("# A page\n") and "Text between." in text and text.endswith("After the block.\n")
    assert dx.regenerate(dx.collect([page]), None, False, log=lambda *_: None) == (0, [])  # idempotent


def test_expensive_blocks_carry_the_commit_and_date_and_are_not_checked(tmp_path):
    body = "<!-- example: id=slow cheap=false -->\n```\n$ echo 1000000 paths\n```\n"
    page = _page(tmp_path, body)
    dx.regenerate(dx.collect([page]), None, False, log=lambda *_: None)
    text = page.read_text()
    assert re.search(r"\n\*Produced at commit \S+ on \d{4}-\d\d-\d\d by `make docs-examples`", text)
    page.write_text(text.replace("1000000 paths\n```", "999 paths\n```"))
    assert dx.check(dx.collect([page]), log=lambda *_: None) == []  # not re-run by the check
    assert dx.main(["--only", "slow", str(page)]) == 0 and "\n1000000 paths\n" in page.read_text()


def test_a_copy_must_equal_its_source(tmp_path):
    body = ("<!-- example: id=src cheap=false -->\n```\n$ echo x\nx\n```\n\n"
            "<!-- example: id=copy same=src -->\n```\n$ echo x\ny\n```\n")
    failures = dx.check(dx.collect([_page(tmp_path, body)]), log=lambda *_: None)
    assert len(failures) == 1 and "copy" in failures[0]


def test_a_failing_command_is_an_error_unless_its_status_is_stated(tmp_path):
    page = _page(tmp_path, "<!-- example: id=f cheap=true -->\n```\n$ exit 3\n```\n")
    assert "exit status 3, expected 0" in dx.check(dx.collect([page]), log=lambda *_: None)[0]
    page = _page(tmp_path, "<!-- example: id=f cheap=true status=3 -->\n```\n$ exit 3\n```\n")
    assert dx.check(dx.collect([page]), log=lambda *_: None) == []
    page = _page(tmp_path, "<!-- example: id=f cheap=true -->\n```\n$ false | cat\n```\n")  # pipefail
    assert "exit status 1" in dx.check(dx.collect([page]), log=lambda *_: None)[0]


def test_markers_are_validated(tmp_path):
    with pytest.raises(dx.ExampleError, match="without id"):
        dx.collect([_page(tmp_path, "<!-- example: cheap=true -->\n```\n$ true\n```\n")])
    with pytest.raises(dx.ExampleError, match="also used"):
        dx.collect([_page(tmp_path, "<!-- example: id=a -->\n```\n$ true\n```\n<!-- example: id=a -->\n```\n$ true\n```\n")])
    with pytest.raises(dx.ExampleError, match="fenced block"):
        dx.collect([_page(tmp_path, "<!-- example: id=a -->\nno block\n")])


def test_masks_cover_the_machine_and_nothing_else():
    lines = ["wall time 13.45 s, 53.5 M path-steps/s on 2 threads",
             "model band: the same figures under other models (50,000 paths each, same seed, 16.1 s; ...)",
             "created 2026-12-01T13:05:09Z in /tmp/pytest-7/x.zarr",
             "hedgesim: compiling kernels (first run only; numba caches them) ...",
             "hedgesim: note: replacing the existing result 'results/default.zarr'",
             "liquidation probability              4.17 %  (95 % CI 4.13 % to 4.21 %)",
             "time to liquidation (if liquidated)  median 22.7 days, 5 %-95 % 12.1-29.3 days"]
    assert dx.normalise(lines) == [
        "wall time <seconds> s, <rate> on <n> threads",
        "model band: the same figures under other models (50,000 paths each, same seed, <seconds> s; ...)",
        "created <timestamp> in <tmp>",
        "liquidation probability              4.17 %  (95 % CI 4.13 % to 4.21 %)",
        "time to liquidation (if liquidated)  median 22.7 days, 5 %-95 % 12.1-29.3 days"]


def test_every_example_of_the_docs_parses_with_unique_ids():
    examples = dx.collect(dx.files())
    assert len({e.id for e in examples}) == len(examples) >= 20
    for e in examples:
        if e.kind == "shell" and "same" not in e.attrs:
            assert dx.commands(e.body, e.where)


def test_a_progress_bar_redrawn_in_place_leaves_what_a_terminal_shows(tmp_path):
    """Carriage returns reach ``clean`` unchanged (text mode would turn them into line
    breaks): a bar redrawn twice, cleared and overwritten by the next output leaves only
    that output, as on a terminal."""
    cmd = r"printf 'note\n\rbar 1%%\rbar 50%%\r       \rdone\n'"
    page = _page(tmp_path, f"<!-- example: id=bar cheap=true -->\n```\n$ {cmd}\n```\n")
    dx.regenerate(dx.collect([page]), None, False, log=lambda *_: None)
    text = page.read_text()
    assert "bar" not in text.split(cmd, 1)[1] and "\nnote\ndone\n" in text
