"""Scratch copies of a run's folders — ``results/<name>``, ``reports/<name>``,
``figures/<name>`` — (issue 13): only Snakemake writes a run; nbval (``pytest notebooks``) and a
notebook opened interactively work on a copy under another name. The folders themselves and
the files in them: :class:`ilsim.run.Run`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ilsim.params import NAME_OVERRIDE, Params, load_params

KINDS = ("results", "reports", "figures")
INTERACTIVE = "-interactive"  # suffix of an interactive session's scratch name


def scratch_copy(source: str, dest: str, root: str | Path = ".") -> None:
    """Copy run ``source``'s folders to run ``dest`` (replacing it; training checkpoints left
    out: they only resume an interrupted training). Each folder is copied beside its target
    and then swapped in, so a reader never sees half a copy."""
    for kind in KINDS:
        src, dst = Path(root) / kind / source, Path(root) / kind / dest
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
        old = dst.with_name(f".{dst.name}.{os.getpid()}.old")
        for leftover in (tmp, old):
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            if src.exists():
                shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("checkpoints"))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if dst.exists():
            dst.rename(old)  # aside first, so the target is never half deleted
        if tmp.exists():
            tmp.rename(dst)
        shutil.rmtree(old, ignore_errors=True)


def _listing(name: str, root: str | Path = ".") -> str:
    """What run ``name`` holds now: every file's path, size and modification time (a file
    added, changed or removed changes it)."""
    rows = []
    for kind in KINDS:
        for f in (Path(root) / kind / name).rglob("*"):
            if "checkpoints" in f.parts:
                continue
            try:
                st = f.stat()
            except FileNotFoundError:  # removed while we looked (a run in progress)
                continue
            if f.is_file():
                rows.append(f"{f.relative_to(root)} {st.st_size} {st.st_mtime_ns}")
    return "\n".join(sorted(rows))


WRITE_RUN = "ILSIM_WRITE_RUN"  # set by `ilsim notebook` (Snakemake's steps) for the kernel


def notebook_params(
    params_file: str | Path,
    write_run: bool = False,
    step: str | None = None,
    knobs: dict | None = None,
) -> Params:
    """The params a notebook runs with. Run by Snakemake (``ilsim notebook`` sets
    ``ILSIM_WRITE_RUN=1`` for the kernel, so the executed copy under ``reports/<name>/notebooks``
    carries no ``write_run = True`` a later "Run All" would obey) or under ``ILSIM_NAME`` (the
    tests' scratch copy): as they are. Opened interactively (issue 28): the params file the
    reader edits, under the name ``<name>-interactive``, on a copy of the run's folders (made
    again when the run has changed since; otherwise the notebooks opened before keep their
    outputs there), so exploring a notebook never rewrites what Snakemake made (set
    ``write_run = True`` in the parameters cell to write the run itself). The first output says
    which file it uses and where it differs from the params the run was made with
    (``results/<name>/params.yaml``). ``step``: the notebook's rule; opened before the run has
    made what it reads, it stops with the one command that makes it. ``knobs``: params changed
    for this interactive session only, section by section (``{"market": {"n_paths": 16}}``,
    the parameters cell's ``knobs``); a run itself takes its params from its file."""
    as_run = write_run or os.environ.get(WRITE_RUN) == "1" or os.environ.get(NAME_OVERRIDE)
    if knobs and as_run:
        raise ValueError(
            f"knobs {knobs} change an interactive session's copy, not a run: edit {params_file} "
            "(or pass snakemake --config) to change the run, or set write_run = False"
        )
    p = load_params(params_file, overrides=knobs)
    if as_run:
        return p
    run_file = Path("results") / p.name / "params.yaml"  # what Snakemake ran with (--config …)
    note = f"params: {params_file} (edit it and rerun this notebook to change a knob)"
    if knobs:
        note += f", with this notebook's knobs {knobs} (this session only)"
    if run_file.is_file():
        changed = _changed_keys(load_params(run_file), p)
        if changed:
            note += (
                f"; it differs from the run's ({run_file}) in {', '.join(changed)}: the outputs "
                "copied from the run were made with the run's values (`snakemake -j2` remakes "
                "them with yours)"
            )
    scratch = p.name + INTERACTIVE
    marker = Path("results") / scratch / ".copied_from"
    # the run's files and the knobs the copy was made for: a session with other knobs (or
    # none) starts from a fresh copy, never from what another session's knobs made
    listing = _listing(p.name) + f"\nknobs: {json.dumps(knobs or {}, sort_keys=True)}"
    if not marker.is_file() or marker.read_text() != listing:
        scratch_copy(p.name, scratch)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(listing)
    print(
        f"interactive session: reading and writing a copy of run {p.name!r} as {scratch!r} "
        f"(set write_run = True in the parameters cell to write {p.name!r} itself); {note}"
    )
    if step is not None:
        _check_inputs(p, step, params_file)
    return p.model_copy(update={"name": scratch})


def _changed_keys(run: Params, mine: Params) -> list[str]:
    """The ``section.key`` names whose values differ between two params (name aside)."""
    a, b = run.model_dump(mode="json"), mine.model_dump(mode="json")
    out = []
    for section in sorted(set(a) | set(b)):
        x, y = a.get(section), b.get(section)
        if isinstance(x, dict) and isinstance(y, dict):
            out += [f"{section}.{k}" for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]
        elif x != y and section != "name":
            out.append(section)
    return out


def _check_inputs(p: Params, step: str, params_file: str | Path) -> None:
    """Stop, with the command that makes them, when the run lacks the artifacts ``step`` reads."""
    from ilsim.artifacts import GROUP_FOLDERS, STEPS
    from ilsim.artifacts import step as registered

    trainers = {  # the trained policies: the rules that train them
        "policies": ["train_policy"],
        "premise_policies": ["train_premise_impact", "train_premise_replay"],
    }
    missing = [
        name
        for name in registered(step).reads
        if ":" not in name and not (p.results_dir() / GROUP_FOLDERS.get(name, name)).exists()
    ]
    if not missing:
        return
    makers = [s.rule for s in STEPS if set(s.writes) & set(missing) and s.rule != "train_premise"]
    makers = list(dict.fromkeys(makers + [r for n in missing for r in trainers.get(n, [])]))
    config = "" if p.name == "default" else f" --configfile {params_file}"
    raise FileNotFoundError(
        f"run {p.name!r} has no {', '.join(missing)} yet: this notebook reads what the steps "
        f"before it make. Make them first: snakemake -j2{config} --until {' '.join(makers)}"
    )
