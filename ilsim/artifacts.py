"""Where a run keeps its files: every artifact under ``results/<name>/`` by name, with the
step that writes it and the steps that read it (the Snakefile declares its rules from here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ilsim.params import Params

LEARNED = ("final_rl", "rl_baseline", "il_baseline")


def policy_name(agent: str, seed: int) -> str:
    """Where one trained policy (and its training curve, ``.csv`` beside it) is kept, under
    the run's results (:meth:`ilsim.run.Run.policy_path`)."""
    return f"policies/{agent}_seed{seed}.pt"


def last_policy_path(path: str | Path) -> Path:
    """Beside a saved policy, the training's last actor (selection-free; issue 25)."""
    path = Path(path)
    return path.with_name(f"{path.stem}_last.pt")


def best_policy_path(path: str | Path) -> Path:
    """Beside a saved policy, the checkpoint that scored best on validation (issue 25: kept
    so that its winner's curse stays measured whichever ``rl.selection`` saves)."""
    path = Path(path)
    return path.with_name(f"{path.stem}_best.pt")


def size_label(size: float) -> str:
    """A portfolio size or fee as a file-name label that reads back as the same float:
    1e6 -> "1e06", 2.5e6 -> "2.5e06"."""
    label = f"{size:g}".replace("+", "")
    if float(label) != size:
        raise ValueError(f"portfolio size {size!r} has no exact short label; round it")
    return label


PREMISE_ARMS = ("impact", "replay")


def premise_policy_name(arm: str, seed: int, size: float | None, fee: float) -> str:
    """A policy of the premise A/B (issue 25): arm ``impact`` per size and fee; arm ``replay``
    once per fee (replay without impact, with rewards and actions relative to the account,
    does not depend on the size: ``size`` is ignored)."""
    if arm not in PREMISE_ARMS:
        raise ValueError(f"unknown premise arm {arm!r}; expected one of {PREMISE_ARMS}")
    tag = f"_{size_label(size)}" if arm == "impact" and size is not None else ""
    if arm == "impact" and size is None:
        raise ValueError("arm 'impact' of the premise A/B needs a portfolio size")
    return f"premise/{arm}{tag}_fee{size_label(fee)}_seed{seed}.pt"


# -- the registry: which step writes and reads what ------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of the pipeline (one Snakemake rule) and the files it writes and reads.

    ``writes`` are artifact names under ``results/<name>/``; ``tables`` are written to
    ``reports/<name>/tables/<t>.csv`` (Markdown twin beside it), ``figures`` to
    ``figures/<name>/<f>.png`` and ``.pdf``. ``reads`` names what the step reads: artifacts,
    ``table:<t>``, ``figure:<f>``, ``paper:<t>`` (the paper's tables under ``paper/``), and the
    groups ``policies`` (every trained policy) and ``premise_policies``."""

    rule: str
    module: str  # ilsim.steps.<module>
    notebook: str | None = None  # notebooks/<notebook>.ipynb
    writes: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()


_SIM = ("bars.parquet", "segments.csv", "features.parquet", "scaler.json", "il_agents.pt")

STEPS: tuple[Step, ...] = (
    Step(
        "segment",
        "s01_segment",
        "01_segment",
        writes=("bars.parquet", "extrema.json", "segments.csv"),
        tables=(
            "segments",
            "zigzag_vs_extrema",
            "zigzag_sweep",
            "segment_long_only",
            "role_search",
        ),
        figures=("fig_segments",),
        reads=("paper:table2_regimes", "paper:case_studies"),
    ),
    Step(
        "features",
        "s02_features",
        "02_features",
        writes=("features_raw.parquet", "features.parquet", "scaler.json"),
        tables=("features_by_regime",),
        figures=("fig_feature_distributions", "fig_feature_correlation"),
        reads=("bars.parquet", "segments.csv"),
    ),
    Step(
        "imitation",
        "s03_imitation",
        "03_imitation",
        writes=("labels.parquet", "il_agents.pt", "il_history.csv"),
        tables=("il_labels", "il_fit"),
        figures=("fig_il_labels", "fig_il_training"),
        reads=("bars.parquet", "segments.csv", "features.parquet"),
    ),
    Step(
        "il_diversity",
        "s04_il_diversity",
        "04_il_diversity",
        tables=("table3_il_general", "table4_il_risk", "il_diversity"),
        figures=("fig1_il_pnl", "fig2_il_actions", "fig_il_action_corr", "fig_il_action_mix"),
        reads=(
            "bars.parquet",
            "segments.csv",
            "features.parquet",
            "il_agents.pt",
            "paper:table3_il_general",
            "paper:table4_il_risk",
        ),
    ),
    Step(
        "simulator",
        "s05_simulator",
        "05_action_synthesis",
        writes=("synthesis.pt", "synthesis_history.csv", "impact_mode.json", "impact_law.json"),
        tables=(
            "synthesis_quality",
            "impact_law",
            "impact_response",
            "impact_curves",
            "impact_checks",
            "realism",
        ),
        figures=("fig4_influence_weights", "fig_impact_response", "fig_impact_laws", "fig_realism"),
        reads=_SIM,
    ),
    Step(
        "train_policy",
        "training",
        writes=("policies",),
        reads=(*_SIM, "labels.parquet", "synthesis.pt", "impact_mode.json", "impact_law.json"),
    ),
    Step(
        "train_premise",
        "training",
        writes=("premise_policies",),
        reads=(*_SIM, "synthesis.pt", "impact_law.json"),
    ),
    Step(
        "premise",
        "premise",
        writes=("premise_backtests.csv",),
        tables=("premise_ab",),
        figures=("fig_premise_ab",),
        reads=(
            "bars.parquet",
            "segments.csv",
            "features.parquet",
            "impact_law.json",
            "premise_policies",
        ),
    ),
    Step(
        "planted_edge",
        "planted_edge",
        tables=("planted_edge", "planted_impact"),
        figures=("fig_planted_edge", "fig_planted_impact"),
        reads=("bars.parquet", "segments.csv", "features.parquet"),
    ),
    Step(
        "train_rl",
        "s06_train_rl",
        "06_train_rl",
        tables=("rl_training", "rl_validation", "selection"),
        figures=("fig_rl_training", "fig_rl_diagnostics", "fig_rl_actions", "fig_rl_preact"),
        reads=(
            "bars.parquet",
            "segments.csv",
            "features.parquet",
            "impact_mode.json",
            "policies",
            "table:planted_edge",
            "table:planted_impact",
        ),
    ),
    Step(
        "backtest",
        "s07_backtest",
        "07_backtest",
        writes=("backtests.csv", "claim_backtests.csv"),
        tables=("table1_aggregate", "table1_per_seed", "paired_rl", "case_studies"),
        figures=("fig3_risk_return", "fig5_case_bear", "fig6_case_volatile"),
        reads=(
            "bars.parquet",
            "segments.csv",
            "features.parquet",
            "impact_law.json",
            "policies",
            "paper:table1_aggregate",
        ),
    ),
    Step(
        "regime_analysis",
        "s08_regime_analysis",
        "08_regime_analysis",
        tables=("table2_regimes", "claims"),
        reads=(
            "bars.parquet",
            "segments.csv",
            "impact_mode.json",
            "backtests.csv",
            "claim_backtests.csv",
            "table:table1_aggregate",
            "table:case_studies",
            "paper:table1_aggregate",
            "table:paired_rl",
            "table:rl_training",
            "table:rl_validation",
            "table:selection",
            "table:planted_edge",
            "table:planted_impact",
            "table:il_fit",
            "table:premise_ab",
            "figure:fig_premise_ab",
            "paper:table2_regimes",
            "paper:case_studies",
        ),
    ),
    Step(
        "il_methods",
        "s09_il_methods",
        "09_il_methods",
        tables=("il_methods",),
        figures=("fig_il_methods",),
        reads=("bars.parquet", "segments.csv", "features.parquet", "scaler.json"),
    ),
)


GROUP_FOLDERS = {"premise_policies": "premise"}  # a group's folder under results/<name>


def read_paths(p: Params, rule: str, root: str | Path = ".") -> list[Path]:
    """The files and folders of run ``p`` that rule ``rule`` reads (its registered ``reads``;
    the paper's own tables left out: they ship with ilsim)."""
    out = []
    for name in step(rule).reads:
        kind, _, stem = name.rpartition(":")
        if kind == "table":
            out.append(p.tables_dir(root) / f"{stem}.csv")
        elif kind == "figure":
            out.append(p.figures_dir(root) / f"{stem}.png")
        elif not kind:
            out.append(p.results_dir(root) / GROUP_FOLDERS.get(name, name))
    return out


def step(rule: str) -> Step:
    """The registered step of a Snakemake rule."""
    for s in STEPS:
        if s.rule == rule:
            return s
    raise KeyError(f"no step for rule {rule!r}; steps: {[s.rule for s in STEPS]}")


def producer(name: str) -> Step:
    """The step that writes an artifact, table (``table:<t>``) or figure (``figure:<f>``)."""
    kind, _, stem = name.rpartition(":")
    for s in STEPS:
        made = {"": s.writes, "table": s.tables, "figure": s.figures}.get(kind, ())
        if stem in made:
            return s
    raise KeyError(f"no step writes {name!r}")
