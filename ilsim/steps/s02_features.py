"""Step 2 (notebook 02): the technical features, raw and min-max scaled on ``il_train``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ilsim import (
    features,
    regimes,
)
from ilsim.artifacts import artifact
from ilsim.params import Params


def build_features(
    p: Params, bars: pd.DataFrame, segments: pd.DataFrame, root: str | Path = "."
) -> tuple[pd.DataFrame, pd.DataFrame, features.MinMaxScaler]:
    """Raw features of every bar, the scaler fitted on ``il_train`` bars only, scaled features."""
    f = p.features
    raw = features.compute_features(
        bars, ema_periods=f.ema_periods_bars, macd=f.macd_bars, relvol_window=f.relvol_window_bars
    )
    fit_mask = regimes.role_mask(segments, len(bars), "il_train") & features.valid_mask(raw)
    if not fit_mask.any():
        raise ValueError("no il_train bars with complete features to fit the scaler on")
    scaler = features.MinMaxScaler().fit(raw, mask=fit_mask)
    scaled = scaler.transform(raw)
    raw.to_parquet(artifact(p, "features_raw.parquet", root))
    scaled.to_parquet(artifact(p, "features.parquet", root))
    scaler.save(artifact(p, "scaler.json", root))
    return raw, scaled, scaler
