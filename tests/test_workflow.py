"""The workflow's declared inputs (issue 13): every step depends on the code it runs, the
import on the data file by one canonical name, so edits rerun what they affect."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def dry_run(params: Path) -> str:
    out = subprocess.run(
        ["snakemake", "-n", "--configfile", str(params)],
        cwd=ROOT,
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
