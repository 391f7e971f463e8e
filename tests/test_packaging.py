"""The conda environment and the pip package ask for the same things (issue 13)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch", "snakemake": "snakemake-minimal"}  # pip name -> conda name


def split(req: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", req.strip()).groups()
    return name.lower(), spec.replace(" ", "")


def test_environment_yml_lists_every_requirement_with_the_same_minimum():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(
        split(r)
        for r in [*project["dependencies"], *project["optional-dependencies"]["dev"],
                  *project["optional-dependencies"]["lab"]]
    )
    env = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = dict(split(d) for d in env if isinstance(d, str) and not d.startswith("python"))
    pip = dict(split(d) for d in next(d["pip"] for d in env if isinstance(d, dict)) if d != "-e .")
    for name, spec in wanted.items():
        have = pip.get(name, conda.get(CONDA_NAMES.get(name, name)))
        assert have is not None, f"environment.yml lacks {name}"
        assert have == spec, f"{name}: pyproject {spec!r}, environment.yml {have!r}"


def test_gymnasium_minimum_has_the_autoreset_mode_the_market_uses():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    spec = dict(split(r) for r in project["dependencies"])["gymnasium"]
    assert spec == ">=1.1"  # gymnasium.vector.AutoresetMode appeared in 1.1.0
    import gymnasium

    assert hasattr(gymnasium.vector, "AutoresetMode")
