"""The workflow's declared inputs (issue 13): every step depends on the code it runs, the
import on the data file by one canonical name, so edits rerun what they affect."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def dry_run(params: Path, cwd: Path = ROOT, *extra: str) -> str:
    out = subprocess.run(
        ["snakemake", "-n", "--configfile", str(params), *extra],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "ILSIM_NAME": "workflow-test"},
        check=True,
    )
    return out.stdout


def job_inputs(text: str) -> dict[str, list[str]]:
    jobs = {}
    for rule, inputs in re.findall(r"rule (\w+):\n    input: ([^\n]*)", text):
        jobs.setdefault(rule, inputs.split(", "))
    return jobs


def test_every_step_reads_the_code_and_the_import_reads_the_data_by_one_name(tmp_path):
    data = tmp_path / "bars.csv"
    data.write_text("datetime,open,high,low,close,volume\n")
    raw = yaml.safe_load((ROOT / "params/default.yaml").read_text())
    spellings = [os.path.relpath(data, ROOT), str(data)]  # one file, two names
    seen = []
    for spelling in spellings:
        raw["data"] = {**raw.get("data", {}), "source": "file", "path": spelling}
        raw["segments"] = {**raw["segments"], "method": "zigzag"}
        params = tmp_path / "p.yaml"
        params.write_text(yaml.safe_dump(raw))
        jobs = job_inputs(dry_run(params))
        assert {"segment", "features", "train_policy", "backtest"} <= set(jobs)
        for rule, inputs in jobs.items():
            assert "ilsim/params.py" in inputs and "ilsim/market.py" in inputs, rule
        seen.append([i for i in jobs["segment"] if i.endswith("bars.csv")])
    assert seen[0] == seen[1] and len(seen[0]) == 1  # the same input, however it is named


def test_one_changed_byte_of_the_data_reruns_the_import_and_everything_after(tmp_path):
    """A copy of the workflow with every output present and up to date (``--touch``): the
    data file named another way changes nothing; one more byte in it plans the import and
    every step downstream."""
    project = tmp_path / "project"
    project.mkdir()
    for part in ("Snakefile", "ilsim", "notebooks", "params", "paper"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / part)
    data = tmp_path / "bars.csv"
    data.write_text("datetime,open,high,low,close,volume\n")
    raw = yaml.safe_load((ROOT / "params/default.yaml").read_text())
    raw["segments"] = {**raw["segments"], "method": "zigzag"}
    files = {}
    for label, spelling in (("abs", str(data)), ("rel", os.path.relpath(data, project))):
        raw["data"] = {**raw.get("data", {}), "source": "file", "path": spelling}
        files[label] = tmp_path / f"{label}.yaml"
        files[label].write_text(yaml.safe_dump(raw))
    plan = dry_run(files["abs"], project, "--forceall")
    for line in re.findall(r"^    (?:output|log): (.*)$", plan, flags=re.M):
        for out in line.split(", "):
            (project / out).parent.mkdir(parents=True, exist_ok=True)
            (project / out).touch()
    subprocess.run(
        ["snakemake", "--touch", "-j1", "--configfile", str(files["abs"])],
        cwd=project, capture_output=True, check=True,
        env={**os.environ, "ILSIM_NAME": "workflow-test"},
    )
    assert "Nothing to be done" in dry_run(files["abs"], project)
    assert "Nothing to be done" in dry_run(files["rel"], project)  # another name, same file
    with data.open("a") as fh:
        fh.write("\n")
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", dry_run(files["rel"], project), flags=re.M))
    assert jobs["segment"] == "1" and jobs["regime_analysis"] == "1"
    every = dict(re.findall(r"^(\w+)\s+(\d+)$", plan, flags=re.M))
    assert jobs == every  # every job of the workflow, the import first
