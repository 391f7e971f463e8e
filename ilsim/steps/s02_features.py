"""Step 2 (notebook 02): the technical features, raw and min-max scaled on ``il_train``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ilsim import (
    features,
    regimes,
)
from ilsim.params import Params
from ilsim.plots.segments import plot_correlation, plot_feature_distributions
from ilsim.run import Run
from ilsim.steps.result import StepResult, run_sections


def build_features(
    p: Params, bars: pd.DataFrame, segments: pd.DataFrame, root: str | Path = "."
) -> tuple[pd.DataFrame, pd.DataFrame, features.MinMaxScaler]:
    """Raw features of every bar, the scaler fitted on ``il_train`` bars only, scaled features."""
    run = Run(p, root)
    raw = features.compute_features(bars, **features.indicator_kwargs(p.features))
    fit_mask = regimes.role_mask(segments, len(bars), "il_train") & features.valid_mask(raw)
    if not fit_mask.any():
        raise ValueError("no il_train bars with complete features to fit the scaler on")
    scaler = features.MinMaxScaler().fit(raw, mask=fit_mask)
    scaled = scaler.transform(raw)
    raw.to_parquet(run.path("features_raw.parquet"))
    scaled.to_parquet(run.path("features.parquet"))
    scaler.save(run.path("scaler.json"))
    return raw, scaled, scaler


def scale_features(p: Params, root: str | Path = ".") -> StepResult:
    """Section 1: every bar's features, min-max scaled on the ``il_train`` bars."""
    run = Run(p, root)
    r = StepResult()
    bars = run.bars()
    segments = run.segments()
    raw, scaled, scaler = build_features(p, bars, segments, root)
    r.values.update(raw=raw, scaled=scaled, scaler=scaler)
    r.tables["describe"] = scaled.describe().T.round(3)
    fit = regimes.role_mask(segments, len(bars), "il_train") & ~raw.isna().any(axis=1).to_numpy()
    lo, hi = scaled[fit].min(), scaled[fit].max()
    r.values["il_train_spans_unit"] = bool(np.allclose(lo, 0) and np.allclose(hi, 1))
    r.notes["check"] = (
        "features: " + ", ".join(scaled.columns) + "\nscaled il_train bars span [0, 1] in every "
        f"feature: {r.values['il_train_spans_unit']}"
    )
    return r


def by_regime(p: Params, root: str | Path = ".") -> StepResult:
    """Section 2: the features' distributions, means and correlations by regime."""
    run = Run(p, root)
    r = StepResult()
    segments = run.segments()
    raw = pd.read_parquet(run.path("features_raw.parquet"))
    scaled = run.features()
    seg_id = regimes.bar_segment_ids(segments, len(scaled))
    regime = segments.set_index("segment")["regime"].reindex(seg_id).to_numpy()
    regime = pd.Series(regime, index=scaled.index)
    inside = seg_id >= 0
    fig = plot_feature_distributions(scaled[inside], regime[inside])
    r.save_figure(fig, p.figures_dir(root), "fig_feature_distributions")
    means = raw[inside].groupby(regime[inside]).mean().T
    means.index.name = "feature"
    r.write_table(means.reset_index(), p.tables_dir(root), "features_by_regime", floatfmt=".3g")
    fig = plot_correlation(scaled[inside])
    r.save_figure(fig, p.figures_dir(root), "fig_feature_correlation")
    return r


def online_check(p: Params, root: str | Path = ".") -> StepResult:
    """Section 3: the simulator's online features equal the offline ones."""
    run = Run(p, root)
    r = StepResult()
    bars = run.bars()
    gap = features.online_offline_gap(bars, p.features, n_envs=4, steps=300, seed=p.seed)
    r.notes["online"] = f"largest |online - offline| over 4 paths x 300 bars: {gap:.2e}"
    return r


SECTIONS = (scale_features, by_regime, online_check)


def run(p: Params, root: str | Path = ".") -> StepResult:
    """Step 2 whole (its notebook's sections in order): features, their distributions and
    correlations by regime, and the check that the simulator's online features equal the
    offline ones; writes rule ``features``'s outputs."""
    return run_sections(SECTIONS, p, root)
