"""The ``ilsim`` command: the compendium's steps and the tools around them (``ilsim COMMAND
--help`` for each)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ilsim.params import ParamsError, load_params


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
    w = sub.add_parser(
        "train-premise", help="train one arm of the premise A/B (every seed of premise.seeds)"
    )
    w.add_argument("params", help="the run's params file (results/<name>/params.yaml)")
    w.add_argument(
        "arm", choices=["impact", "replay"], help="with its own impact (at --size) or without"
    )
    w.add_argument("--size", type=float, default=None, help="portfolio size (arm impact)")
    w.add_argument("--fee", type=float, default=None, help="fee (default backtest.fee)")
    z = sub.add_parser("premise", help="backtest the premise A/B; its table, figure and verdict")
    z.add_argument("params", help="the run's params file (results/<name>/params.yaml)")
    e = sub.add_parser(
        "planted-edge", help="the planted-edge study (does the learner learn?): table and figure"
    )
    e.add_argument("params", help="the run's params file (results/<name>/params.yaml)")
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
    if args.cmd in ("check", "train-policy", "train-premise", "premise", "planted-edge"):
        try:
            p = load_params(args.params)
        except ParamsError as err:
            print(err, file=sys.stderr)
            return 1
    if args.cmd == "check":
        print(f"{args.params}: ok (name {p.name})")
    elif args.cmd == "train-policy":
        from ilsim.run import Run
        from ilsim.steps import training

        summary = training.train_policy(Run(p), args.agent)
        print(summary.to_string(index=False))
    elif args.cmd == "train-premise":
        from ilsim.run import Run
        from ilsim.steps import training

        print(training.train_premise(Run(p), args.arm, args.size, args.fee).to_string(index=False))
    elif args.cmd == "premise":
        from ilsim.steps import premise

        table, verdict = premise.write_premise(p)
        print(table.to_string(index=False))
        print(verdict)
    elif args.cmd == "planted-edge":
        from ilsim.steps import planted_edge

        study = planted_edge.write_planted_edge(p)
        print(study.to_string(index=False))
    elif args.cmd == "backtest":
        from ilsim import evaluate
        from ilsim.data import DataImportError
        from ilsim.evaluate import EvaluationError

        try:
            p = load_params(args.params, for_reading=True)
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
        from ilsim.notebook import ensure_kernel

        print(f"kernel '{ensure_kernel()}' ready")
    elif args.cmd == "notebook":
        from ilsim.notebook import run_notebook

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
        from ilsim.notebook import sync_checked_outputs

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
