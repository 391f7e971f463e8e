"""The ``ilsim`` command: the compendium's steps and the tools around them (``ilsim COMMAND
--help`` for each)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ilsim.params import ParamsError, load_params

KERNEL_NAME = "ilsim"


def ensure_kernel(name: str = KERNEL_NAME) -> str:
    """The Jupyter kernel that runs *this* interpreter, installed into its environment when
    needed; returns its name. ``name`` when that spec runs ``sys.executable`` (or none exists
    yet); when a spec of that name belongs to another (or a deleted) environment, this
    environment's own ``name-<id>`` instead, so papermill never runs the notebooks with
    another environment's packages (issue 13)."""
    import hashlib

    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    specs = ksm.find_kernel_specs()

    def runs_here(kernel: str) -> bool:
        # the same environment: the interpreter in this environment's own bin folder (a venv's
        # python is a symlink to its base interpreter, so resolved paths would match any venv)
        argv = ksm.get_kernel_spec(kernel).argv
        here = Path(os.path.abspath(sys.executable)).parent
        return bool(argv) and Path(os.path.abspath(argv[0])).parent == here

    if name not in specs:
        install(kernel_name=name, display_name=f"Python ({name})", prefix=sys.prefix)
        return name
    if runs_here(name):
        return name
    env_id = hashlib.sha256(os.path.realpath(sys.prefix).encode()).hexdigest()[:8]
    own = f"{name}-{env_id}"
    if own not in specs or not runs_here(own):
        label = f"Python ({name}, {Path(sys.prefix).name})"
        install(kernel_name=own, display_name=label, prefix=sys.prefix)
    return own


def run_notebook(src: str | Path, dst: str | Path, params_file: str | Path) -> None:
    """Execute ``src`` into ``dst`` with papermill, ``params_file`` injected, on the kernel of
    the running interpreter (:func:`ensure_kernel`, resolved when the job runs, in the job's
    environment: parsing the Snakefile installs nothing)."""
    import papermill

    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    kernel = ensure_kernel()
    for attempt in range(1, KERNEL_TRIES + 1):
        try:
            with _ipc_kernel(kernel) as km:
                papermill.execute_notebook(
                    str(src),
                    str(dst),
                    parameters={"params_file": str(params_file), "write_run": True},
                    kernel_name=kernel,
                    km=km,
                    progress_bar=False,
                    # what the cells print goes to this process's output: the rule's log
                    log_output=True,
                    stdout_file=sys.stdout,
                    stderr_file=sys.stderr,
                )
            break
        except papermill.PapermillExecutionError:
            raise  # a cell failed: the notebook's own error, never retried
        except Exception as err:  # the kernel did not start or died
            if attempt == KERNEL_TRIES:
                raise
            print(f"ilsim notebook: the kernel failed ({err!r}); retry {attempt + 1}")
    scrub_notebook(dst)


@contextlib.contextmanager
def _ipc_kernel(kernel: str) -> Iterator[Any]:
    """A kernel manager on IPC sockets in a private temporary folder: no TCP ports to collide
    between parallel jobs, and no "running over TCP without encryption" warning in the log.
    The kernel is shut down and its sockets removed afterwards."""
    from jupyter_client.manager import KernelManager

    folder = tempfile.mkdtemp(prefix="ilsim-kernel-")
    km = KernelManager(kernel_name=kernel, transport="ipc", ip=os.path.join(folder, "k"))
    try:
        yield km
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        shutil.rmtree(folder, ignore_errors=True)


KERNEL_TRIES = 3  # a kernel that fails to start (a port collision under -j2) is retried


# A tqdm progress line ("…| 12/50 [00:03<00:09, 4.1it/s]"): its times change every run.
_PROGRESS = re.compile(r"\|\s*\d+/\d+\s*\[[^\]]*\]")


def scrub_notebook(path: str | Path) -> None:
    """Make an executed notebook deterministic (issue 24: the tracked copies under
    ``reports/<name>/notebooks/`` change only when a result does): no execution timestamps or
    durations (papermill's and Jupyter's cell metadata), no random cell or widget ids, no
    progress bars (their times), no absolute paths of this machine; the kernel named by its
    plain name. Everything a reader looks at — code, text, tables, figures — stays."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    if "kernelspec" in nb.metadata:
        nb.metadata.kernelspec.update(name=KERNEL_NAME, display_name=f"Python ({KERNEL_NAME})")
    places = sorted({os.getcwd(), sys.prefix, str(Path.home())}, key=len, reverse=True)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"  # papermill gives it a random id
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                continue  # a progress widget: its model id is random, its state not saved
            if out.output_type == "stream":
                lines = [ln for ln in out.text.splitlines(True) if not _PROGRESS.search(ln)]
                text = "".join(lines)
                for place in places:
                    text = text.replace(place, "…")
                if not text.strip():
                    continue
                out.text = text
            outputs.append(out)
        cell.outputs = outputs
    nbformat.write(nb, str(path))


def sync_checked_outputs(executed_dir: Path, source_dir: Path = Path("notebooks")) -> list[Path]:
    """Copy the outputs of ``# NBVAL_CHECK_OUTPUT`` cells from executed notebooks into the
    sources, so nbval compares against the current pipeline. Other outputs are cleared."""
    import nbformat

    changed = []
    for src in sorted(source_dir.glob("*.ipynb")):
        done = executed_dir / src.name
        if not done.exists():
            continue
        nb, ex = nbformat.read(src, 4), nbformat.read(done, 4)
        ex_cells = {c.source: c for c in ex.cells if c.cell_type == "code"}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.execution_count = None
            cell.outputs = []
            if "NBVAL_CHECK_OUTPUT" in cell.source and cell.source in ex_cells:
                done_cell = ex_cells[cell.source]
                cell.outputs = [o for o in done_cell.outputs if o.output_type == "stream"]
                cell.execution_count = done_cell.execution_count
        nbformat.write(nb, src)
        changed.append(src)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except ModuleNotFoundError as err:  # a command of the compendium on the core install
        if err.name in WORKFLOW_MODULES:
            hint = "pip install 'ilsim[workflow]'"
            print(f"ilsim {args.cmd} needs {err.name}: {hint}", file=sys.stderr)
            return 1
        raise


def build_parser() -> argparse.ArgumentParser:
    """The ``ilsim`` command's parser: every subcommand, a help text on every argument."""
    parser = argparse.ArgumentParser(prog="ilsim", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="validate a params file")
    c.add_argument("params", help="the params YAML file to validate")
    sub.add_parser("kernel", help="install the 'ilsim' Jupyter kernel for this environment")
    n = sub.add_parser(
        "notebook",
        help="run a notebook headless with papermill on this environment's kernel",
        description="What each Snakemake notebook rule runs: the kernel is checked (and "
        "installed) in the job's own environment, then papermill executes SRC into DST.",
    )
    n.add_argument("src", help="the notebook to run (notebooks/NN_*.ipynb)")
    n.add_argument("dst", help="where the executed notebook is written")
    n.add_argument("--params", required=True, help="the params file (the notebook's parameter)")
    t = sub.add_parser("train-policy", help="train one learned policy (every seed of rl.seeds)")
    t.add_argument("params", help="the run's params file (results/<name>/params.yaml)")
    t.add_argument(
        "agent", choices=["final_rl", "rl_baseline", "il_baseline"], help="which policy to train"
    )
    w = sub.add_parser("train-sweep", help="train one policy of the size sweep (sweep.seeds)")
    w.add_argument("params", help="the run's params file (results/<name>/params.yaml)")
    w.add_argument("agent", choices=["final_rl", "rl_baseline"], help="which policy to train")
    w.add_argument("--size", type=float, default=None, help="portfolio size (final_rl)")
    w.add_argument("--fee", type=float, default=None, help="fee (default backtest.fee)")
    z = sub.add_parser("size-sweep", help="backtest the size sweep; its table and figure")
    z.add_argument("params", help="the run's params file (results/<name>/params.yaml)")
    b = sub.add_parser(
        "backtest",
        help="backtest saved policies of a finished run on any data files and period",
        description="Backtest the saved strategies of a finished params run on new bars; "
        "nothing of the run is refitted or overwritten (outputs go under --out).",
    )
    b.add_argument("--params", required=True, help="the params file of the finished run")
    b.add_argument("--data", action="append", required=True, help="a bars file (repeatable)")
    b.add_argument("--from", dest="start", default=None, help="first session (YYYY-MM-DD)")
    b.add_argument("--to", dest="end", default=None, help="last session (YYYY-MM-DD)")
    b.add_argument(
        "--split",
        default="period",
        choices=["period", "zigzag", "extrema"],
        help="segments: the whole period, the zig-zag's swings or the run's extrema",
    )
    b.add_argument(
        "--agent",
        action="append",
        choices=["final_rl", "rl_baseline", "il_baseline"],
        help="saved agents to include (repeatable; default all three)",
    )
    b.add_argument("--seed", action="append", type=int, help="seeds (default the run's)")
    b.add_argument("--policy", action="append", default=[], help="a policy file (save_policy)")
    b.add_argument("--sb3", action="append", default=[], help="a stable-baselines3 ALGO:PATH")
    b.add_argument("--no-long-only", action="store_true", help="leave out long-only")
    b.add_argument("--out", default=None, help="output name (default <name>-backtest)")
    v = sub.add_parser(
        "verify",
        help="compare a run's tables with the tracked reference (exit 1 on any difference)",
        description="Compare reports/NAME/tables/*.csv, reproduction.md and data_import.md with "
        "the reference git tracks (HEAD, or --rev), byte for byte; for a table that differs, "
        "the rows and columns that moved and the largest absolute and relative change.",
    )
    v.add_argument("name", help="the run (params 'name'): default or paper")
    v.add_argument("--rev", default="HEAD", help="the git revision holding the reference")
    v.add_argument("--reference", default=None, help="a folder holding the reference instead")
    v.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default: exact)")
    v.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default: exact)")
    s = sub.add_parser("nb-sync", help="store checked outputs of executed notebooks in notebooks/")
    s.add_argument("name", nargs="?", default="default", help="the run (default: default)")
    return parser


# Packages of the [workflow] extra (figures, notebooks) that some commands import.
WORKFLOW_MODULES = {"matplotlib", "seaborn", "papermill", "nbformat", "ipykernel", "jupyter_client"}


def _run(args: argparse.Namespace) -> int:
    if args.cmd in ("check", "train-policy", "train-sweep", "size-sweep"):
        try:
            p = load_params(args.params)
        except ParamsError as err:
            print(err, file=sys.stderr)
            return 1
    if args.cmd == "check":
        print(f"{args.params}: ok (name {p.name})")
    elif args.cmd == "train-policy":
        from ilsim.steps import training

        summary = training.train_policy(p, args.agent)
        print(summary.to_string(index=False))
    elif args.cmd == "train-sweep":
        from ilsim.steps import training

        print(training.train_sweep(p, args.agent, args.size, fee=args.fee).to_string(index=False))
    elif args.cmd == "size-sweep":
        from ilsim.steps import sweep

        summary, verdict = sweep.write_size_sweep(p)
        print(summary.to_string(index=False))
        print(verdict)
    elif args.cmd == "backtest":
        from ilsim import evaluate
        from ilsim.data import DataImportError
        from ilsim.evaluate import EvaluationError

        try:
            p = evaluate.read_params(args.params)
            res = evaluate.backtest_saved(
                p,
                args.data,
                start=args.start,
                end=args.end,
                split=args.split,
                agents=args.agent or ["final_rl", "rl_baseline", "il_baseline"],
                seeds=args.seed,
                policy_files=args.policy,
                sb3=args.sb3,
                long_only=not args.no_long_only,
                out=args.out,
            )
        except (ParamsError, DataImportError, EvaluationError, FileNotFoundError) as err:
            print(f"ilsim backtest: {err}", file=sys.stderr)
            return 1
        print(res.summary.to_string(index=False))
        print("wrote " + ", ".join(str(f) for f in res.files))
    elif args.cmd == "kernel":
        print(f"kernel '{ensure_kernel()}' ready")
    elif args.cmd == "notebook":
        run_notebook(args.src, args.dst, args.params)
    elif args.cmd == "verify":
        return _verify(args)
    elif args.cmd == "nb-sync":
        executed = Path("reports") / args.name / "notebooks"
        if not executed.is_dir():
            print(
                f"ilsim nb-sync: {executed}: no executed notebooks of run {args.name!r} (run "
                "the pipeline first: snakemake -j2)",
                file=sys.stderr,
            )
            return 1
        for path in sync_checked_outputs(executed):
            print(f"synced {path}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ilsim import verify

    try:
        results = verify.verify(
            args.name, reference=args.reference, rev=args.rev, rtol=args.rtol, atol=args.atol
        )
    except verify.VerifyError as err:
        print(f"ilsim verify: {err}", file=sys.stderr)
        return 2
    print(verify.summary(results, args.name, args.rtol, args.atol))
    return 0 if all(r.identical for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
