"""Tables written by the pipeline, and the paper's numbers beside ours."""

import numpy as np
import pandas as pd
import pytest

from ilsim.report import beside_paper, markdown_table, paper_table, project_root, write_table


def test_markdown_table_formats_and_blanks_nan():
    md = markdown_table(pd.DataFrame({"a": ["x", "y"], "b": [1.23456, np.nan]}), floatfmt=".2f")
    assert md.splitlines() == ["| a | b |", "|---|---|", "| x | 1.23 |", "| y |  |"]


def test_write_table(tmp_path):
    paths = write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t", "x")
    assert [p.name for p in paths] == ["x.csv", "x.md"]
    assert pd.read_csv(paths[0])["a"].tolist() == [1, 2]


def test_paper_tables_are_the_papers():
    t1 = paper_table("table1_aggregate").set_index("metric")
    assert t1.loc["max_drawdown_pct", "final_rl"] == pytest.approx(-4.97)
    assert len(paper_table("table6_extrema")) == 37
    assert len(paper_table("table3_il_general")) == 10


def test_beside_paper_keeps_paper_order_and_diffs():
    ours = pd.DataFrame({"policy": ["IL10", "IL1"], "x": [3.0, 1.0]})
    paper = pd.DataFrame({"policy": ["IL1", "IL2", "IL10"], "x": [0.5, 2.0, 1.0]})
    out = beside_paper(ours, paper, "policy", ["x"])
    assert out["policy"].tolist() == ["IL1", "IL2", "IL10"]
    assert out["x_diff"].tolist()[0] == 0.5 and np.isnan(out["x"][1])


def test_project_root_found_and_missing(tmp_path):
    assert (project_root() / "Snakefile").exists()
    with pytest.raises(FileNotFoundError, match="no ilsim project"):
        project_root(tmp_path)
