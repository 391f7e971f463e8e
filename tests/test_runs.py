"""A run's folders and scratch copies (issue 13): a notebook opened interactively works on a
copy; Snakemake's runs (write_run) and the tests' (ILSIM_NAME) use the params as they are."""

from pathlib import Path

import pytest

from ilsim import runs
from ilsim.params import NAME_OVERRIDE, ParamsError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "params").mkdir()
    (tmp_path / "params/p.yaml").write_text((ROOT / "params/default.yaml").read_text())
    for kind in runs.KINDS:
        (tmp_path / kind / "default").mkdir(parents=True)
        (tmp_path / kind / "default" / f"{kind}.txt").write_text(kind)
    (tmp_path / "results/default/checkpoints").mkdir()
    (tmp_path / "results/default/checkpoints/big.pt").write_text("x")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(NAME_OVERRIDE, raising=False)
    return tmp_path


def test_an_interactive_session_works_on_a_fresh_copy(project, capsys):
    p = runs.notebook_params("params/p.yaml")
    assert p.name == "default-interactive" and "write_run = True" in capsys.readouterr().out
    for kind in runs.KINDS:
        assert (project / kind / "default-interactive" / f"{kind}.txt").read_text() == kind
    assert not (project / "results/default-interactive/checkpoints").exists()
    (project / "results/default-interactive/mine.txt").write_text("05's output")
    runs.notebook_params("params/p.yaml")  # another notebook: the copy (and 05's work) stays
    assert (project / "results/default-interactive/mine.txt").exists()
    import os

    (project / "results/default/new.txt").write_text("snakemake ran again")
    later = (project / "results/default/new.txt").stat().st_mtime + 10
    os.utime(project / "results/default/new.txt", (later, later))
    runs.notebook_params("params/p.yaml")  # the run changed: a fresh copy
    assert not (project / "results/default-interactive/mine.txt").exists()
    assert (project / "results/default-interactive/new.txt").exists()


def test_snakemake_and_the_tests_use_the_params_as_they_are(project, monkeypatch):
    assert runs.notebook_params("params/p.yaml", write_run=True).name == "default"
    monkeypatch.setenv(NAME_OVERRIDE, "default-nbval")
    assert runs.notebook_params("params/p.yaml").name == "default-nbval"
    assert not (project / "results/default-interactive").exists()


def test_an_interactive_session_honours_the_edited_params_and_says_what_differs(project, capsys):
    """Issue 28: the reader's edit of the params file is used (not silently replaced by the
    run's), and the first output names the file and the keys that differ from the run's."""
    import yaml

    raw = yaml.safe_load((project / "params/p.yaml").read_text())
    (project / "results/default/params.yaml").write_text(yaml.safe_dump({**raw, "seed": 7}))
    edited = {**raw, "experts": {**raw["experts"], "theta": 0.05}}
    (project / "params/p.yaml").write_text(yaml.safe_dump(edited))
    p = runs.notebook_params("params/p.yaml")
    assert p.seed == raw["seed"] and p.experts.theta == 0.05 and p.name == "default-interactive"
    out = capsys.readouterr().out
    assert "params: params/p.yaml" in out and "experts.theta" in out and "seed" in out
    (project / "results/default/results.txt").unlink()  # a file gone from the run: new copy
    runs.notebook_params("params/p.yaml")
    assert not (project / "results/default-interactive/results.txt").exists()


def test_the_executed_copies_never_write_the_run(project, monkeypatch):
    """Snakemake's kernel writes the run through ILSIM_WRITE_RUN (the executed notebook keeps
    write_run = False); without it, rerunning that copy works on the scratch copy."""
    monkeypatch.setenv(runs.WRITE_RUN, "1")
    assert runs.notebook_params("params/p.yaml").name == "default"
    monkeypatch.delenv(runs.WRITE_RUN)
    assert runs.notebook_params("params/p.yaml").name == "default-interactive"


def test_a_notebook_opened_before_its_inputs_exist_names_the_command(project):
    with pytest.raises(FileNotFoundError, match=r"snakemake -j2 --until segment features"):
        runs.notebook_params("params/p.yaml", step="imitation")
    with pytest.raises(FileNotFoundError, match=r"--until .*simulator train_policy$"):
        runs.notebook_params("params/p.yaml", step="train_rl")  # the policies too
    runs.notebook_params("params/p.yaml", step="segment")  # the first step reads no run


def test_knobs_in_the_parameters_cell_change_this_session_only(project, capsys):
    """Issue 28: a knob changed in the parameters cell (``knobs``) is used by this interactive
    session and said in the first output; a run itself refuses knobs (its params are its
    file's)."""
    p = runs.notebook_params("params/p.yaml", knobs={"market": {"n_paths": 3}, "seed": 5})
    assert p.market.n_paths == 3 and p.seed == 5 and p.name == "default-interactive"
    assert p.market.probe_sizes == runs.load_params("params/p.yaml").market.probe_sizes
    assert "knobs {'market': {'n_paths': 3}, 'seed': 5}" in capsys.readouterr().out
    (project / "results/default-interactive/made_with_knobs.txt").write_text("x")
    runs.notebook_params("params/p.yaml", knobs={"market": {"n_paths": 3}, "seed": 5})
    assert (project / "results/default-interactive/made_with_knobs.txt").exists()  # same knobs
    runs.notebook_params("params/p.yaml")  # another session without them: a fresh copy
    assert not (project / "results/default-interactive/made_with_knobs.txt").exists()
    with pytest.raises(ValueError, match="not a run"):
        runs.notebook_params("params/p.yaml", write_run=True, knobs={"seed": 5})
    with pytest.raises(ParamsError, match="no_such_knob"):
        runs.notebook_params("params/p.yaml", knobs={"market": {"no_such_knob": 1}})
