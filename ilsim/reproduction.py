"""The reproduction report (``reports/<name>/reproduction.md``): Tables 1-2 beside the paper, the
claims, the degenerate seeds, the learner's proofs, the premise A/B and where the run departs
from the paper — every number from the pipeline's tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ilsim.premise_ab import premise_verdict
from ilsim.report import BENCHMARKS, DEGENERATE_RULE, degenerate_counts, markdown_table


def write_reproduction(
    path: str | Path,
    t1: pd.DataFrame,
    t2: pd.DataFrame,
    claim_table: pd.DataFrame,
    deviations: list[str],
    cases: pd.DataFrame,
    header: str,
    per_seed: pd.DataFrame | None = None,
    learner: dict[str, pd.DataFrame] | None = None,
    premise: pd.DataFrame | None = None,
) -> Path:
    """``reproduction.md``: every paper table beside ours, the degenerate seeds, the claims,
    and the deviations. ``per_seed`` (:func:`per_seed_table`) lists the seeds one by one;
    without it the degenerate counts come from Table 1's ``n_degenerate``. ``learner`` adds
    the learner's evidence (notebooks 06-07): tables ``planted_edge``, ``rl_training``,
    ``rl_validation`` and ``paired_rl`` when present. ``premise`` (table ``premise_ab``)
    adds the premise A/B and its verdict."""
    fmt = ".4g"
    parts = [
        "# Reproduction report\n",
        header,
        _learner_section(learner or {}, fmt),
        "\n## Degenerate seeds\n\n",
        _degenerate_section(t1, per_seed, fmt),
        "\n## Table 1: averages over the backtests\n",
        "Ours: mean and 95 % interval across seeds (none where the seeds all agree, e.g. "
        "long-only), the per-seed min and max, the seed count and "
        "how many seeds are degenerate; `paper`: the paper's value; `diff`: ours minus the "
        "paper's; `note`: flags seed averages over degenerate seeds.\n\n",
        markdown_table(t1, fmt),
        "\n## Table 2: averages by regime\n\n",
        markdown_table(t2, fmt),
        "\n## Case studies (Figures 5 and 6)\n\n",
        markdown_table(cases, fmt),
        _claims_section(claim_table, fmt),
        _premise_section(premise, fmt),
        "\n## Deviations\n\n",
        "".join(f"- {d}\n" for d in deviations),
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts))
    return path


def _interval(m: float, lo: float, hi: float, fmt: str) -> str:
    if not np.isfinite(m):
        return ""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{m:{fmt}}"
    return f"{m:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def _claims_section(claim_table: pd.DataFrame, fmt: str) -> str:
    """The claims, one table per fee: the claim against long-only, the exposure-matched
    constant position's value of the same statistic, the excess over it, and the smallest
    detectable differences (:func:`claims`)."""
    head = (
        "\n## The paper's claims\n\nEach claim is tested as a paired difference over the "
        "backtest segments: against long-only, as the paper compares (`estimate`), and against "
        "the *exposure-matched constant position* — a strategy that buys the subject's average "
        "share in shares (`exposure`, over its segments) once and holds that quantity (`null`, "
        "its own time-averaged share beside it, and the subject's `excess` over it: what "
        "exposure alone cannot explain; 'beyond exposure' only in the subject's favour). "
        "Intervals are two-level bootstraps (segments, then seeds, resampled; the segments "
        "are the sampling unit); `mde` is the smallest true difference the data would detect "
        "(`claims.power`, two-sided at `claims.level`). Each verdict is one of three words: "
        "*supported* when the whole interval lies on the claim's side, *contradicted* when it "
        "lies wholly on the other side (excluding the paper's value, `paper`), *not shown* when "
        "it straddles the boundary (the MDE beside the paper's value says whether the data "
        "could have told) or with fewer segments than `claims.min_segments` (a regime's 3-5: "
        "descriptive). The same trained policies at each fee.\n"
    )
    if "n_segments" not in claim_table:  # an older table: as it is
        return head + "\n" + markdown_table(claim_table, fmt)
    parts = [head]
    for fee, g in claim_table.groupby("fee", sort=False, dropna=False):
        title = f"At a fee of {fee:.2%}" if np.isfinite(fee) else "At the backtests' fee"
        view = pd.DataFrame(
            {
                "claim": g["claim"],
                "statistic": g["statistic"],
                "exposure (null)": [
                    "" if not np.isfinite(a) else f"{a:.2f} ({b:.2f})"
                    for a, b in zip(g["exposure"], g["null_exposure"], strict=True)
                ],
                "segments × seeds": [
                    "" if not np.isfinite(a) else f"{a:.0f} × {b:.0f}"
                    for a, b in zip(g["n_segments"], g["n_seeds"], strict=True)
                ],
                "estimate [95 %]": [
                    _interval(*r, fmt)
                    for r in zip(g["estimate"], g["ci_low"], g["ci_high"], strict=True)
                ],
                "mde": g["mde"],
                "paper": g["paper_value"] if "paper_value" in g else np.nan,
                "null [95 %]": [
                    _interval(*r, fmt)
                    for r in zip(
                        g["null_estimate"], g["null_ci_low"], g["null_ci_high"], strict=True
                    )
                ],
                "excess over null [95 %]": [
                    _interval(*r, fmt)
                    for r in zip(g["excess"], g["excess_ci_low"], g["excess_ci_high"], strict=True)
                ],
                "excess mde": g["excess_mde"],
                "verdict": g["verdict"],
                "note": g["note"],
            }
        )
        parts += [f"\n### {title}\n\n", markdown_table(view, fmt)]
    return "".join(parts)


def _premise_section(table: pd.DataFrame | None, fmt: str) -> str:
    """The reproduction report's premise A/B section ("" without it)."""
    if table is None or table.empty:
        return ""
    return "".join(
        [
            "\n## Does training with your own impact pay off? (the premise A/B, issue 25)\n\n",
            "Two arms trained on real replay of the same segments with the same seeds (common "
            "random numbers), budget and no selection (each seed's last actor): `impact` with "
            "its own impact through the impact-aware backtest's law at each portfolio size, "
            "`replay` without it. Both backtested with impact at that size and fee on every "
            "backtest segment; `estimate`: the mean over segments × seeds of the return over "
            "the seed's exposure-matched constant position (pp), `difference` = impact − "
            "replay, with a two-level bootstrap interval over segments and seeds and the MDE. "
            "The smallest size is the negative control. Figure: `fig_premise_ab`.\n\n",
            premise_verdict(table),
            "\n\n",
            markdown_table(table, fmt),
        ]
    )


def _degenerate_section(t1: pd.DataFrame, per_seed: pd.DataFrame | None, fmt: str) -> str:
    """The "Degenerate seeds" section: the rule, per learned strategy how many seeds are
    degenerate and which, and the per-seed table when given."""
    parts = [DEGENERATE_RULE, "\n\n"]
    if per_seed is not None:
        counts = degenerate_counts(per_seed)
        for r in counts[counts["role"] == "learned"].itertuples(index=False):
            which = ""
            if r.n_degenerate:
                which = f" (seed{'s' if r.n_degenerate > 1 else ''} {r.degenerate_seeds})"
            parts.append(
                f"- `{r.strategy}`: {r.n_degenerate} of {r.n_seeds} seeds degenerate{which}; "
                f"{r.n_degenerate_runs} of {r.n_runs} seed × backtest runs degenerate.\n"
            )
        parts += ["\nPer seed (means over the backtests):\n\n", markdown_table(per_seed, fmt)]
    elif {"n_degenerate", "n_seeds"} <= set(t1.columns):
        first = t1.drop_duplicates("strategy")
        for r in first[~first["strategy"].isin(BENCHMARKS)].itertuples(index=False):
            parts.append(f"- `{r.strategy}`: {r.n_degenerate} of {r.n_seeds} seeds degenerate.\n")
    else:
        parts.append("(Table 1 was written without degenerate counts.)\n")
    return "".join(parts)


LEARNER_SECTIONS = {
    "planted_edge": (
        "Does the learner learn? Planted edges",
        "The same DDPG configuration on planted markets (next return = edge × an observed "
        "AR(1) feature + noise) whose best achievable growth under the fee is known: each "
        "seed's growth per bar as a fraction of the oracle's, on held-out paths (notebook 06).",
        [
            "case",
            "seed",
            "edge_bp",
            "drift_bp",
            "gamma",
            "phi",
            "fee",
            "reward_window_bars",
            "oracle_bp_per_bar",
            "learned_bp_per_bar",
            "fraction_of_oracle",
            "vector_steps",
        ],
    ),
    "planted_impact": (
        "Does training with its own impact pay off? The known answer on a planted market",
        "The same DDPG trained on a planted market with its own impact through the law fitted "
        "on real QQQ (an all-in order moves the price far more than one signal earns) and on "
        "the same market without it (same seeds and stream), both judged with the impact on "
        "the same held-out paths: the known answer is that the arm trained with its impact "
        "earns more under it than the arm trained without it, by trading less (`turnover`) "
        "— at a small budget by abstaining (growth 0), with more training by trading slowly "
        "(`growth_bp` > 0); the fee's all-in oracle and that oracle slowed down are the "
        "references (notebook 06).",
        [
            "arm",
            "seed",
            "all_in_impact_bp",
            "growth_bp",
            "growth_no_impact_bp",
            "turnover",
            "oracle_bp",
            "slow_oracle_bp",
            "slow_oracle_turnover",
            "vector_steps",
        ],
    ),
    "rl_training": (
        "Training budget and selection",
        "Per policy: vector steps run (a cap, or a validation plateau), environment steps and "
        "gradient updates per seed, its best validation step and score, and which checkpoint "
        "it saved (`selection`: the last actor or the best on validation, `rl.selection`).",
        None,
    ),
    "selection": (
        "Best-on-validation vs selection-free checkpoints: the winner's curse",
        "Each DDPG seed's best checkpoint (the best of its validation evaluations) beside "
        "the training's last one, scored by mean log growth on the validation segments (where "
        "the selection looked) and on the held-out backtest segments (where it did not); on "
        "the best row, `val_gain` and `heldout_gain` are the selection's gains over the "
        "last checkpoint there, and `curse` = val_gain − heldout_gain, the part of the gain "
        "that does not carry over; `saved` marks the checkpoint the run keeps (`rl.selection`; "
        "the last one is not picked by its score; notebook 06).",
        None,
    ),
    "rl_validation": (
        "Learned policies beside constant positions on the validation segments",
        "The selection score (mean log growth over the validation segments, static real "
        "prices, the fee) of every learned seed and of constant exposures bought at the first "
        "bar: when the learned seeds sit at a constant, this says whether a constant is the "
        "honest optimum there. Log growth penalises volatility, so on an equal bull and bear "
        "move it favours cash: the criterion is Kelly's, not a return average.",
        None,
    ),
    "paired_rl": (
        "Final RL against the RL baseline, seed by seed",
        "Different worlds (simulator vs static replay), each agent on its own random stream "
        "(seed numbers pair the rows, nothing else). The last row: mean difference, its two-level "
        "95 % bootstrap interval over segments and seeds, the MDE, a sign-flip p-value and the "
        "verdict in the claims' three words (the paper's claim: final_rl does better).",
        None,
    ),
}


def _learner_section(tables: dict[str, pd.DataFrame], fmt: str) -> str:
    """The learner's evidence, table by table (those given)."""
    parts = []
    for key, (title, text, cols) in LEARNER_SECTIONS.items():
        if key in tables and len(tables[key]):
            t = tables[key]
            t = t[[c for c in cols if c in t]] if cols else t
            parts += [f"\n## {title}\n\n{text}\n\n", markdown_table(t, fmt)]
    return "".join(parts)
