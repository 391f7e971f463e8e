"""The workflow: declared inputs (issue 13: every step depends on the code it runs, the import
on the data file by one canonical name, so edits rerun what they affect), and Snakemake's own
conventions (issue 14: resources for a cluster, `--config` overrides, the HTML report)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from ilsim.artifacts import step as registered
from ilsim.data import file_sha256

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("Snakefile", "ilsim", "notebooks", "params", "paper", "docs", "envs")


def copy_project(dest: Path) -> Path:
    """The workflow's files in another folder (so a test never touches this one's results)."""
    dest.mkdir()
    for part in PARTS:
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / part)
    return dest


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


def test_every_step_reads_the_code_and_the_import_reads_the_data_by_content(tmp_path):
    project = copy_project(tmp_path / "project")
    data = tmp_path / "bars.csv"
    data.write_text("datetime,open,high,low,close,volume\n")
    raw = yaml.safe_load((ROOT / "params/default.yaml").read_text())
    spellings = [os.path.relpath(data, project), str(data)]  # one file, two names
    stamps = []
    for spelling in spellings:
        raw["data"] = {**raw.get("data", {}), "source": "file", "path": spelling}
        raw["segments"] = {**raw["segments"], "method": "zigzag"}
        params = tmp_path / "p.yaml"
        params.write_text(yaml.safe_dump(raw))
        jobs = job_inputs(dry_run(params, project))
        assert {"segment", "features", "train_policy", "backtest"} <= set(jobs)
        for rule, inputs in jobs.items():
            if rule == "all":
                continue
            step = rule.removesuffix("_impact").removesuffix("_replay")  # the A/B's two
            module = registered(step).module  # each rule reads the code its step runs
            assert "ilsim/params/sections.py" in inputs and f"ilsim/steps/{module}.py" in inputs
        assert "ilsim/market/env.py" in jobs["train_policy"]
        assert "results/workflow-test/data.sha256" in jobs["segment"]
        stamps.append((project / "results/workflow-test/data.sha256").read_text())
    assert stamps[0] == stamps[1] == f"data {file_sha256(data)}\n"  # by content, not by name


def test_one_changed_byte_of_the_data_reruns_the_import_and_everything_after(tmp_path):
    """A copy of the workflow with every output present and up to date (``--touch``): the
    data file named another way or touched changes nothing; one more byte in it plans the
    import and every step downstream."""
    project = copy_project(tmp_path / "project")
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
        cwd=project,
        capture_output=True,
        check=True,
        env={**os.environ, "ILSIM_NAME": "workflow-test"},
    )
    assert "Nothing to be done" in dry_run(files["abs"], project)
    assert "Nothing to be done" in dry_run(files["rel"], project)  # another name, same file
    later = data.stat().st_mtime + 100
    os.utime(data, (later, later))
    assert "Nothing to be done" in dry_run(files["rel"], project)  # touched, same content
    with data.open("a") as fh:
        fh.write("\n")
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", dry_run(files["rel"], project), flags=re.M))
    assert jobs["segment"] == "1" and jobs["regime_analysis"] == "1"
    every = dict(re.findall(r"^(\w+)\s+(\d+)$", plan, flags=re.M))
    assert jobs == every  # every job of the workflow, the import first


def _up_to_date_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the workflow on the default params with every output present and up to date
    (``--touch``), and its params file."""
    project = copy_project(tmp_path / "project")
    params = project / "params" / "default.yaml"
    plan = dry_run(params, project, "--forceall")
    for line in re.findall(r"^    (?:output|log): (.*)$", plan, flags=re.M):
        for out in line.split(", "):
            (project / out).parent.mkdir(parents=True, exist_ok=True)
            (project / out).touch()
    subprocess.run(
        ["snakemake", "--touch", "-j1", "--configfile", str(params)],
        cwd=project,
        capture_output=True,
        check=True,
        env={**os.environ, "ILSIM_NAME": "workflow-test"},
    )
    assert "Nothing to be done" in dry_run(params, project)
    return project, params


def test_an_edit_reruns_only_the_steps_that_run_the_edited_code(tmp_path):
    """Issue 26: each rule depends on the modules its step imports. A plotting edit plans the
    steps that draw with it (and what reads their tables), never a training; an edit of a
    module no step imports plans nothing."""
    project, params = _up_to_date_copy(tmp_path)

    def plan_after_touching(rel: str) -> set[str]:
        later = time.time() + 100  # newer than every output (copies keep their mtimes)
        os.utime(project / rel, (later, later))
        text = dry_run(params, project)
        return set(re.findall(r"^(\w+)\s+\d+$", text, flags=re.M)) - {"total", "all", "job"}

    assert plan_after_touching("ilsim/bybit.py") == set()
    plotted = plan_after_touching("ilsim/plots/rl.py")
    assert {"train_rl", "backtest"} <= plotted
    assert not plotted & {"train_policy", "train_premise_impact", "train_premise_replay", "segment"}


@pytest.mark.parametrize(
    "how", [("--executor", "slurm", "-j", "10"), ("--profile", "profiles/slurm")]
)
def test_every_job_carries_threads_and_resources_for_a_slurm_executor(how, tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    project = copy_project(tmp_path / "project")  # (profiles/ too: the checkout stays clean)
    shutil.copytree(ROOT / "profiles", project / "profiles")
    plan = dry_run(project / "params/default.yaml", project, *how, "-p")
    blocks = re.findall(
        r"^(rule|localrule) (\w+):\n(.*?)(?=^(?:rule|localrule) |\Z)", plan, flags=re.M | re.S
    )
    jobs = [(kind, name, body) for kind, name, body in blocks if name != "all"]
    assert {"segment", "train_policy", "train_premise_impact", "il_methods"} <= {
        n for _, n, _ in jobs
    }
    for kind, name, body in jobs:
        assert kind == "rule", f"{name} would run on the submitting node"
        res = re.search(r"^    resources: (.*)$", body, flags=re.M)
        assert res, f"{name}: no resources"
        assert re.search(r"\bmem_mb=\d+", res.group(1)) and re.search(
            r"\bruntime=\d+", res.group(1)
        ), f"{name}: {res.group(1)}"
        threads = re.search(r"^    threads: (\d+)$", body, flags=re.M)
        omp = re.search(r"OMP_NUM_THREADS=(\d+) ", body)
        assert omp, f"{name}: torch's threads are not bounded"
        assert omp.group(1) == (threads.group(1) if threads else "1"), name


def test_the_premise_ab_trains_after_every_job_the_other_reports_need(tmp_path):
    """Issue 26: whenever an A/B training and a job that the A/B does not feed are both ready,
    the other job goes first (a higher priority; a job without a `priority:` line in the plan
    has Snakemake's default 0, so a lost priority fails here)."""
    project = copy_project(tmp_path / "project")
    plan = dry_run(project / "params/default.yaml", project)
    blocks = re.findall(
        r"^(?:rule|localrule) (\w+):\n(.*?)(?=^(?:rule|localrule) |\Z)", plan, flags=re.M | re.S
    )
    priority = {}
    for name, body in blocks:
        found = re.search(r"^    priority: (\d+)$", body, flags=re.M)
        priority.setdefault(name, int(found.group(1)) if found else 0)
    premise = {n: v for n, v in priority.items() if n.startswith("train_premise_")}
    after_premise = {"premise", "regime_analysis", "all"}  # they read the A/B
    others = {n: v for n, v in priority.items() if n not in {*premise, *after_premise}}
    assert premise, "the default plan has no premise A/B training (backtest.impact off?)"
    needed = {"il_diversity", "train_rl", "backtest", "train_policy", "planted_edge", "il_methods"}
    assert needed <= set(others), needed - set(others)
    late = {n: v for n, v in others.items() if v <= max(premise.values())}
    assert not late, f"would wait behind the premise A/B's trainings: {late}"


def test_config_overrides_are_honoured_and_unknown_keys_refused(tmp_path):
    project = copy_project(tmp_path / "project")
    out = subprocess.run(
        [
            "snakemake",
            "-n",
            "-p",
            "--config",
            "name=override",
            "seed=7",
            "synthetic={n_regimes: 5}",
            "market={noise: false, il_volume_unit: 250}",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "ILSIM_NAME"},
    ).stdout
    path = project / "results/override/params.yaml"  # what the steps read
    assert not path.exists()  # a dry run writes nothing: the file holds the last real run's
    subprocess.run(  # a run starts (--touch: its jobs need not succeed here) and writes it
        [
            "snakemake",
            "-j1",
            "--touch",
            "--config",
            "name=override",
            "seed=7",
            "synthetic={n_regimes: 5}",
            "market={noise: false, il_volume_unit: 250}",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "ILSIM_NAME"},
    )
    merged = yaml.safe_load(path.read_text())
    assert merged["seed"] == 7 and merged["name"] == "override"
    assert merged["synthetic"]["n_regimes"] == 5 and merged["market"]["noise"] is False
    assert merged["market"]["il_volume_unit"] == 250  # typed, not the strings Snakemake passes
    default = yaml.safe_load((ROOT / "params/default.yaml").read_text())
    assert {k: v for k, v in merged["synthetic"].items() if k != "n_regimes"} == {
        k: v for k, v in default["synthetic"].items() if k != "n_regimes"
    }  # the rest of the section is the file's
    assert f"--params {path.relative_to(project)}" in out and "results/default" not in out
    bad = subprocess.run(
        ["snakemake", "-n", "--config", "sed=7"],
        cwd=project,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "ILSIM_NAME"},
    )
    assert bad.returncode != 0 and "sed" in bad.stderr + bad.stdout


@pytest.mark.skipif(
    not (ROOT / "reports/default/tables").exists(), reason="needs the default run (snakemake -j2)"
)
def test_the_html_report_holds_every_table_and_figure(tmp_path):
    html = tmp_path / "report.html"
    subprocess.run(
        ["snakemake", "--report", str(html)],
        cwd=ROOT,
        capture_output=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "ILSIM_NAME"},
    )
    text = html.read_text()
    wanted = [p.name for p in (ROOT / "figures/default").glob("*.png")]
    wanted += [p.name for p in (ROOT / "reports/default/tables").glob("*.csv")]
    assert len(wanted) > 40
    missing = [name for name in wanted if name not in text]
    assert not missing, missing


def test_the_workflow_lints_clean(tmp_path):
    project = copy_project(tmp_path / "project")
    out = subprocess.run(["snakemake", "--lint"], cwd=project, capture_output=True, text=True)
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr, (
        out.stdout[-2000:] + out.stderr[-2000:]
    )
