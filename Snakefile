# ilsim compendium: one rule per notebook, run headless with papermill.
#   snakemake -j2                                   # the embedded default (synthetic data)
#   ILSIM_DATA=… snakemake -j2 --configfile params/paper.yaml
# The params file is read and validated once, here; each rule reruns only when its inputs or
# its own section of the params change. Every step writes its output to a log under `log:`
# (Snakemake keeps logs when a step fails, and deletes its outputs); a failed step prints its
# own error message on the console (`python -m ilsim.errors LOG`).
import glob
import json
import os
import sys

from ilsim.cli import ensure_kernel
from ilsim.pipeline import sweep_label
from ilsim.params import ParamsError, load_params

_cli = list(workflow.overwrite_configfiles)
PARAMS_FILE = os.path.relpath(_cli[-1]) if _cli else "params/default.yaml"
try:
    P = load_params(PARAMS_FILE)
except ParamsError as err:
    sys.exit(f"ilsim: {err}")

NAME = P.name
RES, REP, FIG = f"results/{NAME}", f"reports/{NAME}", f"figures/{NAME}"
NB = f"{REP}/notebooks"
KERNEL = ensure_kernel()


def section(*keys):
    """The params a rule depends on, as a string Snakemake compares between runs. The data
    files are inputs (below), not params: how their paths are spelled changes nothing."""
    dump = P.model_dump(mode="json")
    dump["data"] = {k: v for k, v in dump["data"].items() if k not in ("path", "daily_path")}
    return json.dumps({k: dump[k] for k in keys}, sort_keys=True)


def canonical(path):
    """One spelling per file (its real path, relative to the project), so the same file
    named two ways is the same input."""
    return os.path.relpath(os.path.realpath(path))


# Issue 13: every step depends on the data it reads and on the code it runs. The data files
# by their content's timestamp (replace or edit one byte and the import and everything
# downstream reruns); the ilsim sources likewise (a code change reruns the steps).
DATA_FILES = (
    [canonical(P.data.path)]
    + ([canonical(P.data.daily_path)] if P.data.daily_path and os.path.exists(P.data.daily_path) else [])
    if P.data.source == "file"
    else []
)
ILSIM_SOURCES = sorted(glob.glob("ilsim/*.py"))


ON_ERROR = f"{sys.executable} -m ilsim.errors"  # prints the step's own error, exits 1


def papermill(nb, log="{log}"):
    return (
        f"papermill notebooks/{nb}.ipynb {NB}/{nb}.ipynb -k {KERNEL} --no-progress-bar "
        f"-p params_file {PARAMS_FILE} > {log} 2>&1 || {ON_ERROR} {log}"
    )


rule segment:
    input:
        ILSIM_SOURCES,
        DATA_FILES,
        "notebooks/01_segment.ipynb",
    output:
        nb=f"{NB}/01_segment.ipynb",
        bars=f"{RES}/bars.parquet",
        extrema=f"{RES}/extrema.json",
        segments=f"{RES}/segments.csv",
        table=f"{REP}/tables/segments.csv",
        zigzag=f"{REP}/tables/zigzag_vs_extrema.csv",
        sweep=f"{REP}/tables/zigzag_sweep.csv",
        long_only=f"{REP}/tables/segment_long_only.csv",
        role_search=f"{REP}/tables/role_search.csv",
        fig=multiext(f"{FIG}/fig_segments", ".png", ".pdf"),
    params:
        section=section("seed", "data", "synthetic", "segments"),
    benchmark:
        f"{RES}/benchmarks/01_segment.tsv"
    log:
        nb=f"{RES}/logs/01_segment.log",
        # The import report is a log so that it outlives a failed step (with its coverage).
        report=f"{REP}/data_import.md",
    shell:
        f"mkdir -p {RES}/logs && " + papermill("01_segment", "{log.nb}")


rule features:
    input:
        ILSIM_SOURCES,
        "notebooks/02_features.ipynb",
        rules.segment.output.bars,
        rules.segment.output.segments,
    output:
        nb=f"{NB}/02_features.ipynb",
        raw=f"{RES}/features_raw.parquet",
        scaled=f"{RES}/features.parquet",
        scaler=f"{RES}/scaler.json",
        table=f"{REP}/tables/features_by_regime.csv",
        dist=multiext(f"{FIG}/fig_feature_distributions", ".png", ".pdf"),
        corr=multiext(f"{FIG}/fig_feature_correlation", ".png", ".pdf"),
    params:
        section=section("features"),
    benchmark:
        f"{RES}/benchmarks/02_features.tsv"
    log:
        f"{RES}/logs/02_features.log",
    shell:
        papermill("02_features")


rule imitation:
    input:
        ILSIM_SOURCES,
        "notebooks/03_imitation.ipynb",
        rules.segment.output.bars,
        rules.segment.output.segments,
        rules.features.output.scaled,
    output:
        nb=f"{NB}/03_imitation.ipynb",
        labels=f"{RES}/labels.parquet",
        agents=f"{RES}/il_agents.pt",
        history=f"{RES}/il_history.csv",
        mix=f"{REP}/tables/il_labels.csv",
        fit=f"{REP}/tables/il_fit.csv",
        figs=multiext(f"{FIG}/fig_il_labels", ".png", ".pdf"),
        curves=multiext(f"{FIG}/fig_il_training", ".png", ".pdf"),
    params:
        section=section("seed", "device", "experts", "il"),
    benchmark:
        f"{RES}/benchmarks/03_imitation.tsv"
    log:
        f"{RES}/logs/03_imitation.log",
    shell:
        papermill("03_imitation")


rule il_diversity:
    input:
        ILSIM_SOURCES,
        "notebooks/04_il_diversity.ipynb",
        rules.imitation.output.agents,
        rules.features.output.scaled,
    output:
        nb=f"{NB}/04_il_diversity.ipynb",
        table3=f"{REP}/tables/table3_il_general.csv",
        table4=f"{REP}/tables/table4_il_risk.csv",
        diversity=f"{REP}/tables/il_diversity.csv",
        fig1=multiext(f"{FIG}/fig1_il_pnl", ".png", ".pdf"),
        fig2=multiext(f"{FIG}/fig2_il_actions", ".png", ".pdf"),
        corr=multiext(f"{FIG}/fig_il_action_corr", ".png", ".pdf"),
        mix=multiext(f"{FIG}/fig_il_action_mix", ".png", ".pdf"),
    params:
        section=section("il", "backtest"),
    benchmark:
        f"{RES}/benchmarks/04_il_diversity.tsv"
    log:
        f"{RES}/logs/04_il_diversity.log",
    shell:
        papermill("04_il_diversity")


rule simulator:
    input:
        ILSIM_SOURCES,
        "notebooks/05_action_synthesis.ipynb",
        rules.imitation.output.agents,
        rules.features.output.scaled,
        rules.features.output.scaler,
    output:
        nb=f"{NB}/05_action_synthesis.ipynb",
        net=f"{RES}/synthesis.pt",
        history=f"{RES}/synthesis_history.csv",
        mode=f"{RES}/impact_mode.json",
        law=f"{RES}/impact_law.json",
        quality=f"{REP}/tables/synthesis_quality.csv",
        impact=f"{REP}/tables/impact_response.csv",
        law_table=f"{REP}/tables/impact_law.csv",
        curves=f"{REP}/tables/impact_curves.csv",
        checks=f"{REP}/tables/impact_checks.csv",
        fig_laws=multiext(f"{FIG}/fig_impact_laws", ".png", ".pdf"),
        realism=f"{REP}/tables/realism.csv",
        fig4=multiext(f"{FIG}/fig4_influence_weights", ".png", ".pdf"),
        fig_impact=multiext(f"{FIG}/fig_impact_response", ".png", ".pdf"),
        fig_realism=multiext(f"{FIG}/fig_realism", ".png", ".pdf"),
    params:
        section=section("seed", "device", "synthesis", "market", "backtest"),
    benchmark:
        f"{RES}/benchmarks/05_action_synthesis.tsv"
    log:
        f"{RES}/logs/05_action_synthesis.log",
    shell:
        papermill("05_action_synthesis")


SEEDS = list(P.rl.seeds)
LEARNED = ["final_rl", "rl_baseline", "il_baseline"]
POLICIES = expand(f"{RES}/policies/{{agent}}_seed{{seed}}.pt", agent=LEARNED, seed=SEEDS)


rule train_policy:
    input:
        ILSIM_SOURCES,
        rules.simulator.output.net,
        rules.simulator.output.mode,
        rules.simulator.output.law,
        rules.imitation.output.labels,
    output:
        policies=expand(f"{RES}/policies/{{{{agent}}}}_seed{{seed}}.pt", seed=SEEDS),
        curves=expand(f"{RES}/policies/{{{{agent}}}}_seed{{seed}}.csv", seed=SEEDS),
    wildcard_constraints:
        agent="final_rl|rl_baseline|il_baseline",
    params:
        section=section("seed", "device", "rl", "il", "market", "backtest", "segments"),
    benchmark:
        f"{RES}/benchmarks/train_{{agent}}.tsv"
    log:
        f"{RES}/logs/train_{{agent}}.log",
    threads: 1  # two agents train side by side on 2 cores without oversubscribing them
    shell:
        f"OMP_NUM_THREADS={{threads}} ilsim train-policy {PARAMS_FILE} {{wildcards.agent}} "
        f"> {{log}} 2>&1 || {ON_ERROR} {{log}}"


SWEEP_SEEDS = list(P.sweep.seeds)
SWEEP_SIZES = [sweep_label(s) for s in P.sweep.sizes]
SWEEP_FEES = [sweep_label(f) for f in P.backtest.fees()]  # the fee axis (issue 15)
SWEEP_POLICIES = expand(
    f"{RES}/sweep/final_rl_{{size}}_fee{{fee}}_seed{{seed}}.pt",
    size=SWEEP_SIZES,
    fee=SWEEP_FEES,
    seed=SWEEP_SEEDS,
) + expand(f"{RES}/sweep/rl_baseline_fee{{fee}}_seed{{seed}}.pt", fee=SWEEP_FEES, seed=SWEEP_SEEDS)


wildcard_constraints:
    size=r"[0-9.e+-]+",
    fee=r"[0-9.e+-]+",


SWEEP_INPUTS = [
    rules.segment.output.bars,
    rules.segment.output.segments,
    rules.features.output.scaled,
    rules.features.output.scaler,
    rules.imitation.output.agents,
    rules.simulator.output.net,
    rules.simulator.output.law,
]


rule train_sweep_final:
    input:
        ILSIM_SOURCES,
        SWEEP_INPUTS,
    output:
        expand(f"{RES}/sweep/final_rl_{{{{size}}}}_fee{{{{fee}}}}_seed{{seed}}.pt", seed=SWEEP_SEEDS),
    params:
        section=section("seed", "device", "rl", "il", "market", "backtest", "segments", "sweep"),
    benchmark:
        f"{RES}/benchmarks/sweep_final_rl_{{size}}_fee{{fee}}.tsv"
    log:
        f"{RES}/logs/sweep_final_rl_{{size}}_fee{{fee}}.log",
    threads: 1
    shell:
        f"OMP_NUM_THREADS={{threads}} ilsim train-sweep {PARAMS_FILE} final_rl "
        f"--size {{wildcards.size}} --fee {{wildcards.fee}} > {{log}} 2>&1 || {ON_ERROR} {{log}}"


rule train_sweep_baseline:
    input:
        ILSIM_SOURCES,
        SWEEP_INPUTS,
    output:
        expand(f"{RES}/sweep/rl_baseline_fee{{{{fee}}}}_seed{{seed}}.pt", seed=SWEEP_SEEDS),
    params:
        section=section("seed", "device", "rl", "il", "market", "backtest", "segments", "sweep"),
    benchmark:
        f"{RES}/benchmarks/sweep_rl_baseline_fee{{fee}}.tsv"
    log:
        f"{RES}/logs/sweep_rl_baseline_fee{{fee}}.log",
    threads: 1
    shell:
        f"OMP_NUM_THREADS={{threads}} ilsim train-sweep {PARAMS_FILE} rl_baseline "
        f"--fee {{wildcards.fee}} > {{log}} 2>&1 || {ON_ERROR} {{log}}"


rule size_sweep:
    input:
        ILSIM_SOURCES,
        SWEEP_POLICIES,
        SWEEP_INPUTS,
    output:
        rows=f"{RES}/size_sweep.csv",
        table=f"{REP}/tables/size_sweep.csv",
        fig=multiext(f"{FIG}/fig_size_sweep", ".png", ".pdf"),
    params:
        section=section("backtest", "sweep"),
    benchmark:
        f"{RES}/benchmarks/size_sweep.tsv"
    log:
        f"{RES}/logs/size_sweep.log",
    shell:
        f"ilsim size-sweep {PARAMS_FILE} > {{log}} 2>&1 || {ON_ERROR} {{log}}"


# The sweep backtests with impact: off with backtest.impact false (notebook 08 then skips it).
SWEEP_OUTPUTS = list(rules.size_sweep.output) if P.backtest.impact else []


rule train_rl:
    input:
        ILSIM_SOURCES,
        "notebooks/06_train_rl.ipynb",
        POLICIES,
    output:
        nb=f"{NB}/06_train_rl.ipynb",
        fig=multiext(f"{FIG}/fig_rl_training", ".png", ".pdf"),
        diagnostics=multiext(f"{FIG}/fig_rl_diagnostics", ".png", ".pdf"),
        actions=multiext(f"{FIG}/fig_rl_actions", ".png", ".pdf"),
        preact=multiext(f"{FIG}/fig_rl_preact", ".png", ".pdf"),
        planted=multiext(f"{FIG}/fig_planted_edge", ".png", ".pdf"),
        training=f"{REP}/tables/rl_training.csv",
        validation=f"{REP}/tables/rl_validation.csv",
        planted_table=f"{REP}/tables/planted_edge.csv",
    params:
        section=section("rl", "market", "backtest"),
    benchmark:
        f"{RES}/benchmarks/06_train_rl.tsv"
    log:
        f"{RES}/logs/06_train_rl.log",
    shell:
        papermill("06_train_rl")


rule backtest:
    input:
        ILSIM_SOURCES,
        "notebooks/07_backtest.ipynb",
        POLICIES,
        rules.simulator.output.law,
    output:
        nb=f"{NB}/07_backtest.ipynb",
        backtests=f"{RES}/backtests.csv",
        claim_backtests=f"{RES}/claim_backtests.csv",
        table1=f"{REP}/tables/table1_aggregate.csv",
        per_seed=f"{REP}/tables/table1_per_seed.csv",
        paired=f"{REP}/tables/paired_rl.csv",
        cases=f"{REP}/tables/case_studies.csv",
        fig3=multiext(f"{FIG}/fig3_risk_return", ".png", ".pdf"),
        fig5=multiext(f"{FIG}/fig5_case_bear", ".png", ".pdf"),
        fig6=multiext(f"{FIG}/fig6_case_volatile", ".png", ".pdf"),
    params:
        section=section("backtest"),
    benchmark:
        f"{RES}/benchmarks/07_backtest.tsv"
    log:
        f"{RES}/logs/07_backtest.log",
    shell:
        papermill("07_backtest")


rule regime_analysis:
    input:
        ILSIM_SOURCES,
        "notebooks/08_regime_analysis.ipynb",
        rules.backtest.output.backtests,
        rules.backtest.output.claim_backtests,
        rules.backtest.output.table1,
        rules.backtest.output.cases,
        rules.backtest.output.paired,
        rules.train_rl.output.training,
        rules.train_rl.output.validation,
        rules.train_rl.output.planted_table,
        SWEEP_OUTPUTS,
    output:
        nb=f"{NB}/08_regime_analysis.ipynb",
        table2=f"{REP}/tables/table2_regimes.csv",
        claims=f"{REP}/tables/claims.csv",
        report=f"{REP}/reproduction.md",
    params:
        section=section("seed", "claims", "backtest"),
    benchmark:
        f"{RES}/benchmarks/08_regime_analysis.tsv"
    log:
        f"{RES}/logs/08_regime_analysis.log",
    shell:
        papermill("08_regime_analysis")


rule il_methods:
    input:
        ILSIM_SOURCES,
        "notebooks/09_il_methods.ipynb",
        rules.imitation.output.labels,
        rules.features.output.scaled,
        rules.features.output.scaler,
    output:
        nb=f"{NB}/09_il_methods.ipynb",
        table=f"{REP}/tables/il_methods.csv",
        fig=multiext(f"{FIG}/fig_il_methods", ".png", ".pdf"),
    params:
        section=section("seed", "il_methods", "il", "experts", "synthesis", "market", "rl"),
    benchmark:
        f"{RES}/benchmarks/09_il_methods.tsv"
    log:
        f"{RES}/logs/09_il_methods.log",
    shell:
        papermill("09_il_methods")


rule all:
    default_target: True
    input:
        ILSIM_SOURCES,
        rules.segment.output,
        rules.features.output,
        rules.imitation.output,
        rules.il_diversity.output,
        rules.simulator.output,
        rules.train_rl.output,
        rules.backtest.output,
        rules.regime_analysis.output,
        SWEEP_OUTPUTS,
        rules.il_methods.output,
