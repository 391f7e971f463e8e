"""The conda environments and the pip package ask for the same things (issues 13, 14)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch", "snakemake": "snakemake-minimal"}  # pip name -> conda name
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def split(req: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", req.strip()).groups()
    return name.lower(), spec.replace(" ", "")


def requirements(*extras: str) -> dict[str, str]:
    """The core requirements and those of ``extras``, self-references (``ilsim[a,b]``)
    expanded."""
    out = dict(split(r) for r in PROJECT["dependencies"])
    todo = list(extras)
    while todo:
        for req in PROJECT["optional-dependencies"][todo.pop()]:
            own = re.match(r"^ilsim\[(.*)\]$", req.strip())
            if own:
                todo.extend(e.strip() for e in own.group(1).split(","))
            else:
                out.update([split(req)])
    return out


def conda_file(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())["dependencies"]
    conda = dict(split(d) for d in env if isinstance(d, str) and not d.startswith("python"))
    pip = [d for d in next(d["pip"] for d in env if isinstance(d, dict)) if d != "-e ."]
    conda.update(split(d) for d in pip)
    return conda


def check(wanted: dict[str, str], have: dict[str, str], where: str) -> None:
    for name, spec in wanted.items():
        got = have.get(name, have.get(CONDA_NAMES.get(name, name)))
        assert got is not None, f"{where} lacks {name}"
        assert got == spec, f"{name}: pyproject {spec!r}, {where} {got!r}"


def test_environment_yml_lists_every_requirement_with_the_same_minimum():
    check(requirements("dev", "lab"), conda_file(ROOT / "environment.yml"), "environment.yml")


def test_the_rules_conda_env_is_the_core_and_workflow_requirements():
    wanted = requirements("workflow")
    have = conda_file(ROOT / "envs/ilsim.yaml")
    check(wanted, have, "envs/ilsim.yaml")
    extra = {n for n in have if n not in wanted and n not in CONDA_NAMES.values() and n != "pip"}
    assert not extra, f"envs/ilsim.yaml asks for more than core + workflow: {extra}"


def test_the_core_install_is_the_simulator_alone():
    core = set(requirements())
    assert {"torch", "numpy", "pandas", "gymnasium"} <= core
    assert not core & {"snakemake", "papermill", "matplotlib", "seaborn", "stable-baselines3"}


def test_gymnasium_minimum_has_the_autoreset_mode_the_market_uses():
    spec = requirements()["gymnasium"]
    assert spec == ">=1.1"  # gymnasium.vector.AutoresetMode appeared in 1.1.0
    import gymnasium

    assert hasattr(gymnasium.vector, "AutoresetMode")


def test_every_subpackage_is_in_the_wheel():
    """setuptools lists the packages by hand here: a new subpackage left out would be missing
    from every install but the editable one."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "ilsim").rglob("__init__.py")
    }
    assert found <= listed, f"missing from pyproject's packages: {sorted(found - listed)}"


def test_the_wheel_works_from_any_folder(tmp_path):
    """Build the wheel, install it into a fresh venv (the dependencies come from this
    environment through a path file: nothing is downloaded) and run the README's simulator
    snippet from another folder, with the paper's tables and the example params found inside
    the package."""
    import shutil
    import subprocess
    import sys
    import sysconfig
    import zipfile

    src = tmp_path / "src"  # a clean copy: a build never leaves build/ in the checkout
    src.mkdir()
    for part in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / part, src / part)
    for part in ("ilsim", "paper", "params"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(src),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    wheel = next((tmp_path / "dist").glob("ilsim-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "ilsim/py.typed",
        "ilsim/paper/table1_aggregate.csv",
        "ilsim/examples/default.yaml",
        "ilsim/examples/paper.yaml",
    ):
        assert shipped in names, shipped
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- simulator-snippet -->\n```python\n(.*?)```", readme, re.S)
    assert snippet, "README lost its simulator snippet"
    check = f"""
import ilsim, pathlib
assert pathlib.Path(ilsim.__file__).is_relative_to({str(venv)!r}), ilsim.__file__
from ilsim.report import paper_table
from ilsim.params import example_params, load_params
assert len(paper_table("table1_aggregate")) > 0
assert load_params(example_params("default")).name == "default"
assert example_params("paper").is_file()
"""
    finished = (ROOT / "results/default/synthesis.pt").exists()  # the snippet needs a run
    readme_code = snippet.group(1).replace('root = "."', f"root = {str(ROOT)!r}")
    code = check + (readme_code if finished else "")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path))}
    run = subprocess.run([py, "-c", code], cwd=elsewhere, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    if not finished:
        pytest.skip(
            "the wheel installs and finds its data; the README snippet needs the default "
            "run (snakemake -j2)"
        )
