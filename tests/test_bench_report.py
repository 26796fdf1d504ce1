"""make bench's report: the goals table reads the results it is given, and --docs replaces
only the part of the performance page between the bench markers (no timing here)."""

from benchmarks.__main__ import goals_markdown, update_docs


def test_goals_table_marks_each_goal_from_the_results():
    res = {"main": {"kernel_over_reference": 8.4, "rows": {"kernel": {"ratio_to_rng_floor": 1.9}}},
           "threads": {"speedup_2_over_1": 1.97}, "sweep": {"ratio": {"total": 2.6}}}
    md = goals_markdown(res)
    assert "| kernel >= 8x the fair numpy reference, continuous monitoring (aim 10x) | 8.40x | yes |" in md
    assert "| kernel within 1.3x of its own RNG floor | 1.90x | **no** |" in md
    assert "| 20-variant sweep <= 2.5x one run, end to end | 2.60x | **no** |" in md
    assert "10,000,000 paths" not in md  # section not run: no row
    assert goals_markdown({}) == ""


def test_docs_update_replaces_only_between_the_markers(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text("# Performance\nintro\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nprose\n")
    update_docs("| new | table |\n", page)
    assert page.read_text() == ("# Performance\nintro\n<!-- bench:start -->\n| new | table |\n"
                                "<!-- bench:end -->\nprose\n")
