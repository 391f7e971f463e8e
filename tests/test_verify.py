"""``ilsim verify``: a run's tables against the tracked reference (issue 24)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from ilsim import verify
from ilsim.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _table(path: Path, values: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {"strategy": ["long_only", "final_rl", "rl_baseline"], "mean": values, "n": [1, 5, 5]}
    )
    frame.to_csv(path, index=False)


def test_identical_tables_and_reports_pass(tmp_path):
    ref = {"tables/t.csv": b"a,b\n1,2\n", "reproduction.md": b"# x\n"}
    got = verify.compare_dirs(ref, dict(ref))
    assert [r.identical for r in got] == [True, True]
    assert "all 2 identical" in verify.summary(got, "x")


def test_a_moved_number_names_table_row_column_and_size(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _table(a, [5.0, 2.0, -1.0])
    _table(b, [5.0, 2.5, -1.0])
    r = verify.compare_table("tables/t.csv", a.read_bytes(), b.read_bytes())
    assert not r.identical and r.n_changed == 1
    (c,) = r.changes
    assert c.column == "mean" and "strategy=final_rl" in c.row and c.row.startswith("1 ")
    assert c.absolute == pytest.approx(0.5) and c.relative == pytest.approx(0.25)
    text = "\n".join(r.lines())
    assert "DIFF tables/t.csv" in text and "2.0 -> 2.5" in text and "abs 0.5" in text


def test_tolerance_is_stated_and_used(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _table(a, [5.0, 2.0, -1.0])
    _table(b, [5.0, 2.0 + 1e-9, -1.0])
    assert not verify.compare_table("t", a.read_bytes(), b.read_bytes()).identical
    r = verify.compare_table("t", a.read_bytes(), b.read_bytes(), rtol=1e-6)
    assert r.identical and r.status == "within tolerance"
    assert "rtol=1e-06" in verify.summary([r], "x", rtol=1e-6)


def test_missing_new_and_reshaped_tables_are_differences(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _table(a, [5.0, 2.0, -1.0])
    frame = pd.read_csv(a).iloc[:2].assign(extra=1)
    frame.to_csv(b, index=False)
    got = verify.compare_dirs(
        {"tables/gone.csv": b"x\n1\n", "tables/t.csv": a.read_bytes()},
        {"tables/new.csv": b"x\n1\n", "tables/t.csv": b.read_bytes()},
    )
    status = {r.name: r.status for r in got}
    assert status == {
        "tables/gone.csv": "missing",
        "tables/new.csv": "new",
        "tables/t.csv": "differs",
    }
    (t,) = [r for r in got if r.name == "tables/t.csv"]
    assert "added ['extra']" in t.note and "rows removed: strategy=rl_baseline" in t.note


def test_an_inserted_row_is_named_not_every_row_after_it():
    a = b"strategy,mean\nlong_only,1.0\nfinal_rl,2.0\nil_baseline,3.0\n"
    b = b"strategy,mean\nlong_only,1.0\nrl_baseline,9.0\nfinal_rl,2.0\nil_baseline,3.0\n"
    r = verify.compare_table("t", a, b)
    assert not r.identical and r.n_changed == 0 and r.note == "rows added: strategy=rl_baseline"


def test_text_and_unreadable_tables_never_crash():
    assert verify.compare_text("r.md", b"a\nb\n", b"a\r\nb\r\n").note == (
        "same lines, other line endings"
    )
    moved = verify.compare_text("r.md", b"a\nb\nc\n", b"a\nx\nb\nc\n")
    assert moved.note == "1 line(s) differ; first at line 2: 'x'"
    bad = verify.compare_table("tables/t.csv", b"a,b\n1,2\n", b"")
    assert not bad.identical and "not readable as a table (EmptyDataError)" in bad.note


def test_cli_on_a_copy_of_the_tracked_default_reference(tmp_path, monkeypatch, capsys):
    """The issue's check: one number of a copy of the tracked reference changed; verify names
    the table, row, column and size, and exits 1 (0 on the unchanged copy)."""
    try:
        ref = verify.tracked_files("default", ROOT)
    except verify.VerifyError as err:
        pytest.skip(f"no git checkout with the tracked reference: {err}")
    reference = tmp_path / "reference"
    for name, content in ref.items():
        (reference / name).parent.mkdir(parents=True, exist_ok=True)
        (reference / name).write_bytes(content)
    run = tmp_path / "reports" / "default"
    shutil.copytree(reference, run)
    monkeypatch.chdir(tmp_path)
    assert main(["verify", "default", "--reference", str(reference)]) == 0
    assert "identical to the reference" in capsys.readouterr().out
    # change one number: the first float of the first table that has one
    for path in sorted((run / "tables").glob("*.csv")):
        frame = pd.read_csv(path)
        floats = [c for c in frame.columns if frame[c].dtype == float and frame[c].notna().any()]
        if floats:
            col = floats[0]
            row = int(frame[col].notna().to_numpy().argmax())
            old = frame.at[row, col]
            frame.at[row, col] = old + 1.0
            frame.to_csv(path, index=False)
            break
    out_code = main(["verify", "default", "--reference", str(reference)])
    out = capsys.readouterr().out
    assert out_code == 1
    assert f"DIFF tables/{path.name}: differs" in out
    assert f"row {row}" in out and f"column {col}" in out and "abs 1" in out
    assert "1 of" in out


def test_cli_against_git_and_clear_errors(tmp_path, monkeypatch, capsys):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    monkeypatch.chdir(tmp_path)
    assert main(["verify", "default"]) == 2  # no run
    assert "run the pipeline first" in capsys.readouterr().err
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    table = tmp_path / "reports" / "demo" / "tables" / "t.csv"
    _table(table, [5.0, 2.0, -1.0])
    (table.parent.parent / "reproduction.md").write_text("# ok\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "ref"], check=True)
    assert main(["verify", "demo"]) == 0
    _table(table, [5.0, 2.0, -3.0])
    assert main(["verify", "demo"]) == 1
    out = capsys.readouterr().out
    assert "row 2 [strategy=rl_baseline] · column mean: -1.0 -> -3.0" in out
    (tmp_path / "reports" / "other" / "tables").mkdir(parents=True)
    assert main(["verify", "other"]) == 2
    assert "no tracked reference for run 'other'" in capsys.readouterr().err


def _tracked_outputs() -> list[str]:
    """The reference files git tracks (skips outside a checkout that has them)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "reports", "figures"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    if not out:
        pytest.skip("no tracked reference in this checkout")
    return out


def test_readme_links_and_provenance_match_the_tracked_reference():
    """The README's "Results at a glance" links only files the repository tracks, and its
    provenance paragraph states params/paper.yaml's reference data set."""
    import re

    import yaml

    readme = (ROOT / "README.md").read_text()
    glance = readme.split("## Results at a glance")[1].split("\n## ")[0]
    links = re.findall(r"\]\(((?:reports|figures)/[^)]+)\)", glance)
    assert len(links) >= 10
    out = _tracked_outputs()
    for link in links:
        assert link in out or any(f.startswith(link) for f in out), f"README links {link}"
    ref = yaml.safe_load((ROOT / "params" / "paper.yaml").read_text())["data"]["reference"]
    para = " ".join(readme.split("**Data provenance.**")[1].split("\n\n")[0].split())
    assert ref["sha256"] in para and ref["name"] in para and f"{ref['rows']:,}" in para
    assert ref["span"] in para


def test_tracked_outputs_hold_no_local_paths_timestamps_or_versions():
    """Issue 24: what the repository publishes is the same on every machine and every rerun:
    no absolute paths, execution timestamps, durations, interpreter or library versions."""
    import re

    files = _tracked_outputs()
    here = str(ROOT)
    stamp = re.compile(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d")  # an ISO execution timestamp
    for name in files:
        data = (ROOT / name).read_bytes()
        if name.endswith(".png"):
            assert b"tEXt" not in data and b"iTXt" not in data, f"{name}: text chunk in PNG"
            continue
        text = data.decode()
        assert here not in text and "/root/" not in text, f"{name}: a local path"
        if name.endswith(".ipynb"):
            assert not stamp.search(text), f"{name}: an execution timestamp"
            for key in ('"papermill"', '"execution"', '"duration"', '"version"', "widget"):
                assert key not in text, f"{name}: {key} in the executed notebook"


def test_empty_cells_on_both_sides_are_not_changes():
    a = b"seed,diff,verdict\n0,1.0,\nmean,1.0,same\n"
    b = b"seed,diff,verdict,mde\n0,1.0,,\nmean,1.0,same,0.5\n"
    r = verify.compare_table("t", a, b)
    assert r.n_changed == 0 and r.note == "columns removed [], added ['mde']"


def test_large_integers_are_compared_exactly():
    a = b"seed,segment,n\n0,1,9007199254740993\n"
    b = b"seed,segment,n\n0,1,9007199254740992\n"  # equal once cast to float
    r = verify.compare_table("t", a, b)
    assert r.n_changed == 1 and r.changes[0].column == "n"
