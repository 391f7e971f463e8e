# ilsim compendium: one rule per notebook, run headless with papermill.
#   snakemake -j2                                   # the embedded default (synthetic data)
#   ILSIM_DATA=… snakemake -j2 --configfile params/paper.yaml
#   snakemake -j2 --config seed=1 name=default-seed1   # params overridden from the command line
#   snakemake --report report.html                  # every table and figure, browsable
#   snakemake --profile profiles/slurm              # on a cluster (profiles/local: one machine)
# The params file is read and validated once, here; each rule reruns only when its inputs or
# its own section of the params change. Every step writes its output to a log under `log:`
# (Snakemake keeps logs when a step fails, and deletes its outputs); a failed step prints its
# own error message on the console (`python -m ilsim.errors LOG`).
import json
import os
import sys

import yaml

from ilsim.data import file_sha256
from ilsim.params import ParamsError, config_overrides, load_params, merge_overrides
from ilsim.params import params_from_dict, with_name_override
from ilsim.artifacts import LEARNED, size_label
from ilsim.artifacts import step as registered
from ilsim.deps import step_sources


report: "docs/report.rst"


def read_params():
    """The params file (the last --configfile, else params/default.yaml) with the
    `--config KEY=VALUE` overrides merged in and validated (an unknown key stops with its
    name). The steps read the result from results/<name>/params.yaml (one path per run, so
    neither an override nor another spelling of the params file reads as a change; written
    when a run starts, below; ${VAR} references are kept and expanded by each step)."""
    files = list(workflow.overwrite_configfiles)
    path = os.path.relpath(files[-1]) if files else "params/default.yaml"
    try:
        p = load_params(path)
        with open(path) as fh:
            raw = yaml.safe_load(fh) or {}
        overrides = config_overrides(raw, config)
        merged = with_name_override(merge_overrides(raw, overrides))
        if overrides:
            p = params_from_dict(merged, f"{path} with --config {json.dumps(overrides)}")
    except ParamsError as err:
        sys.exit(f"ilsim: {err}")
    out = f"results/{p.name}/params.yaml"
    text = f"# {path}" + (f" with --config {json.dumps(overrides)}" if overrides else "") + "\n"
    return out, p, text + yaml.safe_dump(merged, sort_keys=False)


PARAMS_FILE, P, PARAMS_TEXT = read_params()


onstart:
    # Written when a run starts (not by a dry run, --lint or --report, and after the run took
    # its lock), so the file always holds the params of the last run that made results.
    os.makedirs(os.path.dirname(PARAMS_FILE), exist_ok=True)
    if not os.path.exists(PARAMS_FILE) or open(PARAMS_FILE).read() != PARAMS_TEXT:
        with open(PARAMS_FILE, "w") as fh:
            fh.write(PARAMS_TEXT)


NAME = P.name
RES, REP, FIG = f"results/{NAME}", f"reports/{NAME}", f"figures/{NAME}"
NB = f"{REP}/notebooks"


def section(*keys):
    """The params a rule depends on, as a string Snakemake compares between runs. The data
    files are inputs (below), not params: how their paths are spelled changes nothing."""
    dump = P.model_dump(mode="json")
    # the reference's description (data.reference) only labels the import report: editing it
    # reruns nothing (rerun the import by hand, `-R segment`, to restate it)
    drop = ("path", "daily_path", "reference")
    dump["data"] = {k: v for k, v in dump["data"].items() if k not in drop}
    # "section.key": one key of a section (the simulator reads rl.train_roles, not the budget)
    picked = {k: dump[k.split(".")[0]][k.split(".")[1]] if "." in k else dump[k] for k in keys}
    return json.dumps(picked, sort_keys=True)


# Issue 13: every step depends on the data it reads and on the code it runs. The data files by
# their content: results/<name>/data.sha256 holds their SHA-256 and is rewritten only when one
# changes (edit one byte and the import and everything downstream reruns; the same file under
# another name, or touched, reruns nothing); the ilsim sources by their timestamps — of each
# rule, only the modules its step runs (issue 26: `ilsim.deps.step_sources`, from the import
# graph), so a plotting edit reruns the steps that draw and nothing trains again.
def data_stamp():
    if P.data.source != "file":
        return []
    files = {"data": P.data.path}
    if P.data.daily_path and os.path.exists(P.data.daily_path):
        files["daily"] = P.data.daily_path
    text = "".join(f"{role} {file_sha256(path)}\n" for role, path in files.items())
    stamp = f"{RES}/data.sha256"
    if not os.path.exists(stamp) or open(stamp).read() != text:
        os.makedirs(RES, exist_ok=True)
        with open(stamp, "w") as fh:
            fh.write(text)
    return [stamp]


DATA_FILES = data_stamp()

# Software: every job runs in this environment, or with `--sdm conda` in envs/ilsim.yaml
# (the same requirements as pyproject.toml's core and [workflow]; the checkout's ilsim is put
# on PYTHONPATH, so the conda environment needs no install of it). The interpreter and the
# params file reach the commands as params (RUN): another interpreter is another software
# environment and reruns the steps.
CONDA_ENV = "envs/ilsim.yaml"
_conda = any(m.name == "CONDA" for m in workflow.deployment_settings.deployment_method)
PY = f"PYTHONPATH={workflow.basedir} python" if _conda else sys.executable
RUN = {
    "py": PY,
    "params_file": PARAMS_FILE,
    "on_error": f"{PY} -m ilsim.errors",  # prints the step's own error, exits 1
}


# Priorities: the chain to the trainings first (segment … simulator: 100), the headline
# trainings (60), then the two long jobs off that chain (planted_edge 50, read only by the
# notebook-06 report; il_methods 40), then notebooks 04, 06 and 07 (il_diversity, train_rl,
# backtest: 35) and only then the premise A/B's trainings (30): whenever both are ready, the
# notebooks go first (a priority never pauses a running job; issue 26: with the notebooks at
# the default 0 the eight A/B trainings went first and held notebooks 06 and 07 back 31 min).
# Threads: every rule asks for one. The networks are small, so a second thread buys little,
# while two 2-thread jobs side by side on 2 cores (as `snakemake -j2` schedules them) spin
# against each other: measured on 2 cores, rule `simulator` 447 s beside `il_methods` with 2
# threads each, 40 s with 1 each (same numbers).


def papermill(nb, log="{log}"):
    """A notebook step: torch's threads from the rule's `threads`, papermill on the kernel of
    the job's own environment (`ilsim notebook`), the step's own error on failure."""
    return (
        f"OMP_NUM_THREADS={{threads}} {{params.py}} -m ilsim.cli notebook notebooks/{nb}.ipynb "
        f"{NB}/{nb}.ipynb --params {{params.params_file}} > {log} 2>&1 "
        f"|| {{params.on_error}} {log}"
    )


def command(args, log="{log}"):
    """An `ilsim` command step, torch's threads from the rule's `threads`."""
    return (
        f"OMP_NUM_THREADS={{threads}} {{params.py}} -m ilsim.cli {args} > {log} 2>&1 "
        f"|| {{params.on_error}} {log}"
    )


# `snakemake --report`: every paper table and figure, by pipeline step.
STEP = {
    1: "1 segments",
    2: "2 features",
    3: "3 imitation",
    4: "4 IL diversity",
    5: "5 simulator",
    6: "6 RL training",
    7: "7 backtests",
    8: "8 regimes and claims",
    9: "9 IL methods",
}


def figure(name, step):
    """A figure: its PNG (in the report) and its PDF."""
    png = report(f"{FIG}/{name}.png", category=STEP[step], labels={"figure": name})
    return [png, f"{FIG}/{name}.pdf"]


def table(name, step):
    """A table under reports/<name>/tables (in the report; its Markdown twin beside it)."""
    return report(f"{REP}/tables/{name}.csv", category=STEP[step], labels={"table": name})


# Each rule's files come from the registry in ilsim/artifacts.py (one place for every path):
# what the step writes and every file it reads, the paper's tables included; a test checks the
# registry against what the steps' code and notebooks read.
def reads(rule):
    """The files a step reads (plus the ilsim sources it runs and its notebook)."""
    s = registered(rule)
    notebook = f"notebooks/{s.notebook}.ipynb" if s.notebook else None
    files = [step_sources(s.module, notebook, workflow.basedir)] + ([notebook] if notebook else [])
    for name in s.reads:
        kind, _, stem = name.rpartition(":")
        if name == "policies":
            files.append(POLICIES)
        elif name == "premise_policies":
            files.append(PREMISE_POLICIES)
        elif kind == "paper":
            files.append(f"paper/{stem}.csv")
        elif not P.backtest.impact and "premise" in stem:
            continue  # the premise A/B trades with impact: off with backtest.impact false
        elif kind == "table":
            files.append(f"{REP}/tables/{stem}.csv")
        elif kind == "figure":
            files.append(f"{FIG}/{stem}.png")
        else:
            files.append(f"{RES}/{stem}")
    return files


def writes(rule, step):
    """A step's outputs by name: its executed notebook, artifacts, tables and figures."""
    s = registered(rule)
    out = {"nb": f"{NB}/{s.notebook}.ipynb"} if s.notebook else {}
    out.update({name.replace(".", "_"): f"{RES}/{name}" for name in s.writes})
    out.update({name: table(name, step) for name in s.tables})
    out.update({name: figure(name, step) for name in s.figures})
    return out


SEEDS = list(P.rl.seeds)
POLICIES = expand(f"{RES}/policies/{{agent}}_seed{{seed}}.pt", agent=LEARNED, seed=SEEDS)


# The premise A/B (issue 25): arm `impact` per size and fee, arm `replay` once per fee.
PREMISE_SEEDS = list(P.premise.seeds)
PREMISE_SIZES = [size_label(s) for s in P.premise.sizes]
FEES = [size_label(f) for f in P.backtest.fees()]  # the fee axis (issue 15)
PREMISE_POLICIES = expand(
    f"{RES}/premise/impact_{{size}}_fee{{fee}}_seed{{seed}}.pt",
    size=PREMISE_SIZES,
    fee=FEES,
    seed=PREMISE_SEEDS,
)
PREMISE_POLICIES.extend(
    expand(f"{RES}/premise/replay_fee{{fee}}_seed{{seed}}.pt", fee=FEES, seed=PREMISE_SEEDS)
)


wildcard_constraints:
    size=r"[0-9.e+-]+",
    fee=r"[0-9.e+-]+",


rule segment:
    input:
        DATA_FILES,
        reads("segment"),
    output:
        **writes("segment", 1),
    params:
        section=section("seed", "data", "synthetic", "segments"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/01_segment.tsv"
    log:
        nb=f"{RES}/logs/01_segment.log",
        # The import report is a log so that it outlives a failed step (with its coverage).
        report=f"{REP}/data_import.md",
    conda:
        CONDA_ENV
    threads: 1
    priority: 100
    resources:
        mem_mb=1500,
        runtime=15,
    shell:
        papermill("01_segment", "{log.nb}")  # Snakemake makes the logs' folders


rule features:
    input:
        reads("features"),
    output:
        **writes("features", 2),
    params:
        section=section("features"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/02_features.tsv"
    log:
        f"{RES}/logs/02_features.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 100
    resources:
        mem_mb=1500,
        runtime=15,
    shell:
        papermill("02_features")


rule imitation:
    input:
        reads("imitation"),
    output:
        **writes("imitation", 3),
    params:
        section=section("seed", "device", "experts", "il"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/03_imitation.tsv"
    log:
        f"{RES}/logs/03_imitation.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 100
    resources:
        mem_mb=2000,
        runtime=20,
    shell:
        papermill("03_imitation")


rule il_diversity:
    input:
        reads("il_diversity"),
    output:
        **writes("il_diversity", 4),
    params:
        section=section("il", "backtest"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/04_il_diversity.tsv"
    log:
        f"{RES}/logs/04_il_diversity.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 35  # before the premise A/B's trainings (30)
    resources:
        mem_mb=1500,
        runtime=20,
    shell:
        papermill("04_il_diversity")


rule simulator:
    input:
        reads("simulator"),
    output:
        **writes("simulator", 5),
    params:
        section=section("seed", "device", "synthesis", "market", "backtest", "rl.train_roles"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/05_action_synthesis.tsv"
    log:
        f"{RES}/logs/05_action_synthesis.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 100
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        papermill("05_action_synthesis")


rule train_policy:
    input:
        reads("train_policy"),
    output:
        policies=expand(f"{RES}/policies/{{{{agent}}}}_seed{{seed}}.pt", seed=SEEDS),
        curves=expand(f"{RES}/policies/{{{{agent}}}}_seed{{seed}}.csv", seed=SEEDS),
    wildcard_constraints:
        agent="final_rl|rl_baseline|il_baseline",
    params:
        section=section("seed", "device", "rl", "il", "market", "backtest", "segments"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/train_{{agent}}.tsv"
    log:
        f"{RES}/logs/train_{{agent}}.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 60  # two agents train side by side on 2 cores without oversubscribing them
    resources:
        mem_mb=2500,
        runtime=120,
    shell:
        command("train-policy {params.params_file} {wildcards.agent}")


# The premise A/B's trainings: 12 seeds stacked per job, one thread each, started after the
# headline trainings and notebooks 04, 06 and 07 (priority 30, below theirs).
rule train_premise_impact:
    input:
        reads("train_premise"),
    output:
        expand(f"{RES}/premise/impact_{{{{size}}}}_fee{{{{fee}}}}_seed{{seed}}.pt", seed=PREMISE_SEEDS),
    params:
        section=section("seed", "device", "rl", "market", "backtest", "segments", "premise"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/premise_impact_{{size}}_fee{{fee}}.tsv"
    log:
        f"{RES}/logs/premise_impact_{{size}}_fee{{fee}}.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 30
    resources:
        mem_mb=2000,
        runtime=40,
    shell:
        command("train-premise {params.params_file} impact --size {wildcards.size} --fee {wildcards.fee}")


rule train_premise_replay:
    input:
        reads("train_premise"),
    output:
        expand(f"{RES}/premise/replay_fee{{{{fee}}}}_seed{{seed}}.pt", seed=PREMISE_SEEDS),
    params:
        section=section("seed", "device", "rl", "market", "backtest", "segments", "premise"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/premise_replay_fee{{fee}}.tsv"
    log:
        f"{RES}/logs/premise_replay_fee{{fee}}.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 30
    resources:
        mem_mb=2000,
        runtime=40,
    shell:
        command("train-premise {params.params_file} replay --fee {wildcards.fee}")


rule premise:
    input:
        reads("premise"),
    output:
        **writes("premise", 8),
    params:
        section=section("seed", "claims", "backtest", "premise"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/premise.tsv"
    log:
        f"{RES}/logs/premise.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1500,
        runtime=20,
    shell:
        command("premise {params.params_file}")


# The A/B trades with impact: off with backtest.impact false (notebook 08 then skips it).
PREMISE_OUTPUTS = list(rules.premise.output) if P.backtest.impact else []


rule planted_edge:
    input:
        reads("planted_edge"),
    output:
        **writes("planted_edge", 6),
    params:
        section=section("seed", "device", "rl", "market", "backtest"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/planted_edge.tsv"
    log:
        f"{RES}/logs/planted_edge.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 50
    resources:
        mem_mb=1500,
        runtime=40,
    shell:
        command("planted-edge {params.params_file}")


rule train_rl:
    input:
        reads("train_rl"),
    output:
        **writes("train_rl", 6),
    params:
        section=section("rl", "market", "backtest"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/06_train_rl.tsv"
    log:
        f"{RES}/logs/06_train_rl.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 35  # before the premise A/B's trainings (30)
    resources:
        mem_mb=2000,
        runtime=40,
    shell:
        papermill("06_train_rl")


rule backtest:
    input:
        reads("backtest"),
    output:
        **writes("backtest", 7),
    params:
        section=section("seed", "claims", "backtest"),  # paired_rl: the claims' bootstrap
        **RUN,
    benchmark:
        f"{RES}/benchmarks/07_backtest.tsv"
    log:
        f"{RES}/logs/07_backtest.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 35  # before the premise A/B's trainings (30)
    resources:
        mem_mb=1500,
        runtime=30,
    shell:
        papermill("07_backtest")


rule regime_analysis:
    input:
        reads("regime_analysis"),
    output:
        **writes("regime_analysis", 8),
        report=report(f"{REP}/reproduction.md", category=STEP[8], labels={"report": "reproduction"}),
    params:
        section=section("seed", "claims", "backtest"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/08_regime_analysis.tsv"
    log:
        f"{RES}/logs/08_regime_analysis.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1500,
        runtime=15,
    shell:
        papermill("08_regime_analysis")


rule il_methods:
    input:
        reads("il_methods"),
    output:
        **writes("il_methods", 9),
    params:
        section=section("seed", "il_methods", "il", "experts", "synthesis", "market", "rl"),
        **RUN,
    benchmark:
        f"{RES}/benchmarks/09_il_methods.tsv"
    log:
        f"{RES}/logs/09_il_methods.log",
    conda:
        CONDA_ENV
    threads: 1
    priority: 40
    resources:
        mem_mb=2000,
        runtime=40,
    shell:
        papermill("09_il_methods")


rule all:
    default_target: True
    input:
        rules.segment.output,
        rules.features.output,
        rules.imitation.output,
        rules.il_diversity.output,
        rules.simulator.output,
        rules.train_rl.output,
        rules.backtest.output,
        rules.regime_analysis.output,
        PREMISE_OUTPUTS,
        rules.il_methods.output,


# `snakemake -j2 verify` (with --configfile for the paper): the whole run, then its tables and
# reports compared with the tracked reference (`ilsim verify NAME`; fails on any difference).
# No output: it runs each time it is asked for, and never as part of the default target.
rule verify:
    input:
        rules.all.input,
    params:
        py=PY,
    log:
        f"{RES}/logs/verify.log",
    conda:
        CONDA_ENV
    localrule: True
    shell:
        f"{{params.py}} -m ilsim.cli verify {NAME} 2>&1 | tee {{log}}"
