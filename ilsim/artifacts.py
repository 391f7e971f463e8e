"""Where a run keeps its files: every artifact under ``results/<name>/`` by name, with the
step that writes it and the steps that read it (the Snakefile declares its rules from here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ilsim.params import Params


def artifact(p: Params, name: str, root: str | Path = ".") -> Path:
    """Path of an intermediate artifact, with its folder created."""
    path = p.results_dir(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


LEARNED = ("final_rl", "rl_baseline", "il_baseline")


def policy_path(p: Params, agent: str, seed: int, root: str | Path = ".") -> Path:
    """Where one trained policy (and its training curve, ``.csv`` beside it) is kept."""
    return artifact(p, f"policies/{agent}_seed{seed}.pt", root)


def last_policy_path(path: str | Path) -> Path:
    """Beside a selected policy, the training's last actor (selection-free; issue 25)."""
    path = Path(path)
    return path.with_name(f"{path.stem}_last.pt")


def run_policy(p: Params, agent: str, root: str | Path = ".") -> Callable[[int], Path]:
    """Where the run keeps each seed's policy of ``agent``: seed -> path."""
    return lambda seed: policy_path(p, agent, seed, root)


def sweep_label(size: float) -> str:
    """A portfolio size as a file-name label that reads back as the same float:
    1e6 -> "1e06", 2.5e6 -> "2.5e06"."""
    label = f"{size:g}".replace("+", "")
    if float(label) != size:
        raise ValueError(f"portfolio size {size!r} has no exact short label; round it")
    return label


def sweep_policy_path(
    p: Params,
    agent: str,
    seed: int,
    size: float | None = None,
    root: str | Path = ".",
    fee: float | None = None,
) -> Path:
    """A sweep policy: ``final_rl`` per size and fee; ``rl_baseline`` once per fee (static
    replay with rewards and actions relative to the account, so its training does not depend
    on the size). ``fee``: default the headline ``backtest.fee``."""
    tag = "" if size is None else f"_{sweep_label(size)}"
    fee = p.backtest.fee if fee is None else fee
    return artifact(p, f"sweep/{agent}{tag}_fee{sweep_label(fee)}_seed{seed}.pt", root)


# -- the registry: which step writes and reads what ------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of the pipeline (one Snakemake rule) and the files it writes and reads.

    ``writes`` are artifact names under ``results/<name>/``; ``tables`` are written to
    ``reports/<name>/tables/<t>.csv`` (Markdown twin beside it), ``figures`` to
    ``figures/<name>/<f>.png`` and ``.pdf``. ``reads`` names what the step reads: artifacts,
    ``table:<t>``, ``figure:<f>``, ``paper:<t>`` (the paper's tables under ``paper/``), and the
    groups ``policies`` (every trained policy) and ``sweep_policies``."""

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
        "train_sweep",
        "training",
        writes=("sweep_policies",),
        reads=(*_SIM, "synthesis.pt", "impact_law.json"),
    ),
    Step(
        "size_sweep",
        "sweep",
        writes=("size_sweep.csv",),
        tables=("size_sweep",),
        figures=("fig_size_sweep",),
        reads=(
            "bars.parquet",
            "segments.csv",
            "features.parquet",
            "impact_law.json",
            "sweep_policies",
        ),
    ),
    Step(
        "planted_edge",
        "planted_edge",
        tables=("planted_edge",),
        figures=("fig_planted_edge",),
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
            "size_sweep.csv",
            "table:table1_aggregate",
            "table:case_studies",
            "paper:table1_aggregate",
            "table:paired_rl",
            "table:rl_training",
            "table:rl_validation",
            "table:selection",
            "table:planted_edge",
            "table:il_fit",
            "table:size_sweep",
            "figure:fig_size_sweep",
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
