"""Realism of simulated price/volume paths, scored by stylized facts against held-out real data.

SPEC step 10 ("beyond the paper"): simulated paths with no RL trading are compared with real
bars (and with static replay and a GBM baseline) on the stylized facts of intraday returns:
heavy tails (kurtosis), no linear return autocorrelation (lags 1-10), volatility clustering
(|return| autocorrelation, lags 1-20), volume-volatility correlation and the intraday U-shape of
volume and |return|; and, as in the realism reports of ABIDES (``realism/metrics``) and MarS
(``report_stylized_facts.py``, Cont's facts), gain/loss asymmetry (skewness), aggregational
Gaussianity (kurtosis over aggregation horizons), the leverage effect, the returns/volatility
correlation and intermittency (Fano factor of extreme returns).

The facts, each defined where it is computed, are in :mod:`ilsim.stylized_facts` (``PathSet``
and ``stylized_facts`` are importable from here too); this module scores them: distances to the
real facts, bootstrap intervals over paths, the realism table and its figure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ilsim.stylized_facts import (
    PathSet,
    _checked,
    _facts_from_sums,
    _Layout,
    _path_sums,
    _quiet,
    stylized_facts,
)

__all__ = [
    "DISTANCE_SCALES",
    "FACT_FAMILIES",
    "PathSet",
    "fact_distances",
    "gbm_paths",
    "plot_realism",
    "realism_table",
    "stylized_facts",
]


FACT_FAMILIES: tuple[str, ...] = (
    "kurtosis",
    "acf_r",
    "acf_abs",
    "vol_volume_corr",
    "u_volume",
    "u_abs",
    "skew",
    "kurtosis_agg",
    "leverage",
    "ret_vol_corr",
    "fano",
)


# Scale of each family's distance in ``total``: roughly the size of a difference that is plainly
# unrealistic for intraday equity bars, so a family at its scale contributes 1. kurtosis: raw
# kurtosis off by a factor e; acf_r: 0.05 RMSE over lags 1-10 (about 10 standard errors for
# ~10^5 returns); acf_abs: 0.1 RMSE (real 5-minute |r| autocorrelations are 0.2-0.4);
# vol_volume_corr: 0.2; U-shapes: 0.25 RMSE of the mean-1 profile (the real volume profile
# ranges about 0.6-3). The new curve facts use L1 (mean absolute difference over the curve),
# at most their RMSE, so the scales below, set on RMSE, are if anything strict. Checked on
# QQQ 5-minute bars 2020-2024 (211 paths of 390 bars) against
# their half-split noise floor and GBM: skew: 0.5 (real |skew| < 0.1, but its half-split
# interval reaches ~0.4: heavy tails make skewness noisy); kurtosis_agg: 1.0 L1 (mean |diff|) of
# log raw kurtosis over k, as kurtosis (real excess kurtosis ~7.5 at 1 bar, ~4 at 20 bars; GBM
# scores 0.9, the half-split 0.2); leverage: 0.05 L1 (real -0.01 to -0.03 per lag with a
# half-split RMSE of ~0.02, so 0.05 is a leverage effect several times too large or of the
# wrong sign); ret_vol_corr: 0.1 L1 (real -0.05 at 1 bar to -0.15 at 20 bars; GBM scores
# 0.12, the half-split ~0.08); fano: 0.5 = |log ratio| (Fano off by a factor 1.65; real ~2,
# i.i.d. ~1, so GBM scores ~0.7, the half-split < 0.2).
DISTANCE_SCALES: dict[str, float] = {
    "kurtosis": 1.0,
    "acf_r": 0.05,
    "acf_abs": 0.1,
    "vol_volume_corr": 0.2,
    "u_volume": 0.25,
    "u_abs": 0.25,
    "skew": 0.5,
    "kurtosis_agg": 1.0,
    "leverage": 0.05,
    "ret_vol_corr": 0.1,
    "fano": 0.5,
}


REAL_SPLIT = "real (half-split)"


def _rmse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMSE over the last axis where both are finite (NaN when no such entry)."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"profiles of different length: {a.shape[-1]} vs {b.shape[-1]}")
    with _quiet():
        return np.sqrt(np.nanmean((a - b) ** 2, axis=-1))


def _l1(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference (L1 per point) over the last axis where both are finite."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"curves of different length: {a.shape[-1]} vs {b.shape[-1]}")
    with _quiet():
        return np.nanmean(np.abs(a - b), axis=-1)


def _distances(
    facts: Mapping[str, np.ndarray | float],
    real: Mapping[str, np.ndarray | float],
    scales: Mapping[str, float],
) -> dict[str, np.ndarray]:
    """Family distances, vectorised over leading axes of either side."""
    k, kr = np.asarray(facts["kurtosis"]), np.asarray(real["kurtosis"])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {"kurtosis": np.abs(np.log((k + 3.0) / (kr + 3.0)))}
    out["acf_r"] = _rmse(np.asarray(facts["acf_r"]), np.asarray(real["acf_r"]))
    out["acf_abs"] = _rmse(np.asarray(facts["acf_abs"]), np.asarray(real["acf_abs"]))
    out["vol_volume_corr"] = np.abs(
        np.asarray(facts["vol_volume_corr"]) - np.asarray(real["vol_volume_corr"])
    )
    out["u_volume"] = _rmse(np.asarray(facts["u_volume"]), np.asarray(real["u_volume"]))
    out["u_abs"] = _rmse(np.asarray(facts["u_abs"]), np.asarray(real["u_abs"]))
    out["skew"] = np.abs(np.asarray(facts["skew"]) - np.asarray(real["skew"]))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["kurtosis_agg"] = _l1(
            np.log(np.asarray(facts["kurtosis_agg"]) + 3.0),
            np.log(np.asarray(real["kurtosis_agg"]) + 3.0),
        )
        f, fr = np.asarray(facts["fano"]), np.asarray(real["fano"])
        out["fano"] = np.abs(np.log(f / fr))
    out["leverage"] = _l1(np.asarray(facts["leverage"]), np.asarray(real["leverage"]))
    out["ret_vol_corr"] = _l1(np.asarray(facts["ret_vol_corr"]), np.asarray(real["ret_vol_corr"]))
    scaled = np.stack(np.broadcast_arrays(*[out[f] / scales[f] for f in FACT_FAMILIES]), -1)
    with _quiet():
        out["total"] = np.nanmean(scaled, -1)
    return out


def fact_distances(
    facts: Mapping[str, np.ndarray | float],
    real: Mapping[str, np.ndarray | float],
    scales: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Distance of one set of stylized facts to the real ones, one number per family (0 = same).

    - ``kurtosis``: ``|log((k + 3) / (k_real + 3))|``, the raw-kurtosis ratio on a log scale;
    - ``acf_r``, ``acf_abs``: RMSE over the lags;
    - ``vol_volume_corr``: absolute difference;
    - ``u_volume``, ``u_abs``: RMSE of the mean-1 profiles over bins where both have values;
    - ``skew``: absolute difference;
    - ``kurtosis_agg``: mean absolute difference (L1) over the horizons of
      ``log((k + 3) / (k_real + 3))`` (the
      ``kurtosis`` distance at every horizon);
    - ``leverage``, ``ret_vol_corr``: mean absolute difference (L1) over the lags / horizons;
    - ``fano``: ``|log(fano / fano_real)|``;
    - ``total``: mean over the families of ``distance / scale`` with ``scales`` (default
      ``DISTANCE_SCALES``: about the size of a plainly unrealistic difference, so 1 means "off
      by that much on average"); NaN families (e.g. no volume) are left out of the mean.
    """
    scales = DISTANCE_SCALES if scales is None else scales
    return {k: float(v) for k, v in _distances(facts, real, scales).items()}


def _summary(facts: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A scalar per family for the table: curves become their mean over lags / horizons
    (acf, kurtosis_agg, leverage, ret_vol_corr), profiles their U ratio."""
    with _quiet():
        return {
            "kurtosis": np.asarray(facts["kurtosis"]),
            "acf_r": np.nanmean(facts["acf_r"], -1),
            "acf_abs": np.nanmean(facts["acf_abs"], -1),
            "vol_volume_corr": np.asarray(facts["vol_volume_corr"]),
            "u_volume": np.asarray(facts["u_volume_ratio"]),
            "u_abs": np.asarray(facts["u_abs_ratio"]),
            "skew": np.asarray(facts["skew"]),
            "kurtosis_agg": np.nanmean(facts["kurtosis_agg"], -1),
            "leverage": np.nanmean(facts["leverage"], -1),
            "ret_vol_corr": np.nanmean(facts["ret_vol_corr"], -1),
            "fano": np.asarray(facts["fano"]),
            "total": np.asarray(np.nan),
        }


def _boot_counts(rng: np.random.Generator, n_boot: int, p: int) -> np.ndarray:
    """Resampling counts [n_boot, p]: how often each path is drawn in each replicate."""
    idx = rng.integers(0, p, size=(n_boot, p))
    flat = (np.arange(n_boot)[:, None] * p + idx).ravel()
    return np.bincount(flat, minlength=n_boot * p).reshape(n_boot, p).astype(np.float64)


def _compare(
    cand: np.ndarray,
    real: np.ndarray,
    layout: _Layout,
    rng: np.random.Generator,
    n_boot: int,
    scales: Mapping[str, float],
    alpha: float,
) -> list[dict[str, float]]:
    """Rows (fact, value, real_value, distance, ci_low, ci_high) for one candidate."""
    fc = _facts_from_sums(cand.sum(0), layout)
    fr = _facts_from_sums(real.sum(0), layout)
    dist = _distances(fc, fr, scales)
    bc = _facts_from_sums(_boot_counts(rng, n_boot, len(cand)) @ cand, layout)
    br = _facts_from_sums(_boot_counts(rng, n_boot, len(real)) @ real, layout)
    bdist = _distances(bc, br, scales)
    sc, sr = _summary(fc), _summary(fr)
    rows = []
    for fact in (*FACT_FAMILIES, "total"):
        b = bdist[fact]
        b = b[np.isfinite(b)]
        lo, hi = np.quantile(b, [alpha / 2, 1 - alpha / 2]) if b.size else (np.nan, np.nan)
        rows.append(
            {
                "fact": fact,
                "value": float(sc[fact]),
                "real_value": float(sr[fact]),
                "distance": float(dist[fact]),
                "ci_low": float(lo),
                "ci_high": float(hi),
            }
        )
    return rows


def realism_table(
    real: PathSet,
    candidates: Mapping[str, PathSet],
    n_boot: int = 200,
    seed: int = 0,
    include_real_split: bool = True,
    max_lag_r: int = 10,
    max_lag_abs: int = 20,
    bars_per_day: int | None = None,
    exclude_overnight: bool = True,
    scales: Mapping[str, float] | None = None,
    ci: float = 0.95,
    max_agg: int = 20,
    max_lag_lev: int = 20,
    fano_window: int = 12,
    fano_quantile: float = 0.99,
) -> pd.DataFrame:
    """Distance of every candidate path set to the real one, per fact family, with intervals.

    Long format: ``candidate, fact, value, real_value, distance, ci_low, ci_high, n_paths``;
    facts are the families of ``fact_distances`` (``FACT_FAMILIES``) plus ``total``.
    ``value``/``real_value`` are scalars: kurtosis, the mean acf over the lags, the correlation,
    the U ratio, the skewness, the mean over horizons / lags of ``kurtosis_agg``, ``leverage``
    and ``ret_vol_corr``, the Fano factor (NaN for total). ``max_agg``, ``max_lag_lev``,
    ``fano_window`` and ``fano_quantile`` set the new facts as in ``stylized_facts`` (each set's
    Fano threshold is its own quantile; the half-split uses the whole real set's).
    Intervals: percentile bootstrap; each replicate resamples paths with replacement from the
    candidate and, independently, from the real set, and recomputes the distance. Distances
    are >= 0 and biased upward by noise, so the point estimate may sit near or below ci_low.
    ``include_real_split`` adds the row set ``"real (half-split)"``: one random half of the real
    paths against the other — the noise floor (a little above the floor of a full-size
    comparison, as each half has half the paths); ``value`` is one half, ``real_value`` the other.
    """
    scales = DISTANCE_SCALES if scales is None else scales
    rng = np.random.default_rng(seed)
    nb = bars_per_day or real.bars_per_day
    if nb is None:
        nb = 1 + max(int(p.bar_of_day.max(initial=-1)) for p in (real, *candidates.values()))
    alpha = 1.0 - ci
    extra = _checked(max_agg, max_lag_lev, fano_window, fano_quantile)

    def layout(has_volume: bool) -> _Layout:
        return _Layout(max_lag_r, max_lag_abs, int(nb), has_volume, **extra)

    real_has_vol = real.volume is not None
    real_sums = {
        hv: _path_sums(real, layout(hv), exclude_overnight) for hv in {real_has_vol, False}
    }
    rows: list[dict] = []
    for name, ps in candidates.items():
        hv = real_has_vol and ps.volume is not None
        c = _path_sums(ps, layout(hv), exclude_overnight)
        for row in _compare(c, real_sums[hv], layout(hv), rng, n_boot, scales, alpha):
            rows.append({"candidate": name, **row, "n_paths": ps.n_paths})
    if include_real_split and real.n_paths >= 4:
        perm = rng.permutation(real.n_paths)
        half_a, half_b = perm[: real.n_paths // 2], perm[real.n_paths // 2 :]
        r = real_sums[real_has_vol]
        for row in _compare(r[half_a], r[half_b], layout(real_has_vol), rng, n_boot, scales, alpha):
            rows.append({"candidate": REAL_SPLIT, **row, "n_paths": len(half_a)})
    cols = ["candidate", "fact", "value", "real_value", "distance", "ci_low", "ci_high", "n_paths"]
    return pd.DataFrame(rows, columns=cols)


def gbm_paths(
    real: PathSet,
    n_paths: int,
    length: int,
    seed: int,
    exclude_overnight: bool = True,
) -> PathSet:
    """Geometric Brownian motion paths with the real returns' mean and std (log scale).

    Log returns are i.i.d. normal with the mean and std of the real ``log(1 + r)`` (overnight
    returns left out by default). Volume is constant at the real mean (so the volume-volatility
    correlation counts as 0 and the volume profile is flat), or None if the real set has none.
    Bar of day is copied from the real layout (path p uses real path p mod P) where the real
    paths are long enough, else continued cyclically from the real first bar.
    """
    rng = np.random.default_rng(seed)
    bod_r = real.bod2d()
    r = np.where(bod_r == 0, np.nan, real.returns) if exclude_overnight else real.returns
    lr = np.log1p(r[np.isfinite(r)])
    if lr.size < 2:
        raise ValueError("not enough real returns to fit a GBM")
    mu, sigma = float(lr.mean()), float(lr.std(ddof=1))
    rets = np.expm1(mu + sigma * rng.standard_normal((n_paths, length)))
    rows = np.arange(n_paths) % real.n_paths
    if length <= real.length:
        bod = bod_r[rows, :length]
    else:
        nb = real.bars_per_day or int(real.bar_of_day.max()) + 1
        bod = (bod_r[rows, :1] + np.arange(length)) % nb
    vol = None
    if real.volume is not None:
        vol = np.full((n_paths, length), float(np.nanmean(real.volume)))
    return PathSet(rets, vol, np.array(bod), real.bars_per_day)


_FACT_TITLES = {
    "kurtosis": "kurtosis |log ratio|",
    "acf_r": "return acf 1-10 (RMSE)",
    "acf_abs": "|return| acf 1-20 (RMSE)",
    "vol_volume_corr": "volume-|r| corr (abs diff)",
    "u_volume": "volume U-shape (RMSE)",
    "u_abs": "|return| U-shape (RMSE)",
    "skew": "skewness (abs diff)",
    "kurtosis_agg": "k-bar kurtosis (L1 of log)",
    "leverage": "leverage corr(r, |r+τ|) (L1)",
    "ret_vol_corr": "k-bar return-RV corr (L1)",
    "fano": "extreme-|r| Fano |log ratio|",
    "total": "total (scaled mean)",
}


def plot_realism(table: pd.DataFrame):
    """One panel per fact family: a bar per candidate with its bootstrap interval; the real
    half-split distance (noise floor) as a dashed line. Returns the figure (caller saves it)."""
    import matplotlib.pyplot as plt

    facts = [f for f in _FACT_TITLES if f in set(table["fact"])]
    ncol = 4
    nrow = max(1, -(-len(facts) // ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.9 * nrow), squeeze=False)
    cands = [c for c in dict.fromkeys(table["candidate"]) if c != REAL_SPLIT]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, fact in zip(axes.ravel(), facts, strict=False):
        sub = table[table["fact"] == fact].set_index("candidate")
        d = sub["distance"].reindex(cands).to_numpy(dtype=float)
        lo = sub["ci_low"].reindex(cands).to_numpy(dtype=float)
        hi = sub["ci_high"].reindex(cands).to_numpy(dtype=float)
        err = np.vstack([np.clip(d - lo, 0, None), np.clip(hi - d, 0, None)])
        err = np.nan_to_num(err)
        x = np.arange(len(cands))
        ax.bar(x, np.nan_to_num(d), yerr=err, capsize=3, color=colors[: len(cands)] or None)
        if REAL_SPLIT in sub.index:
            floor = float(sub.loc[REAL_SPLIT, "distance"])
            if np.isfinite(floor):
                ax.axhline(floor, ls="--", color="k", lw=1, label="real half-split")
        ax.set_xticks(x, cands, rotation=30, ha="right", fontsize=8)
        ax.set_title(_FACT_TITLES[fact], fontsize=9)
        ax.set_ylim(bottom=0)
    for ax in axes.ravel()[len(facts) :]:
        ax.axis("off")
    handles = [h for ax in axes.ravel() for h in ax.get_legend_handles_labels()[0]][:1]
    if handles:
        fig.legend(handles, ["real half-split (noise floor)"], loc="lower right", fontsize=8)
    fig.suptitle("Realism: distance to held-out real data (95 % bootstrap intervals)")
    fig.tight_layout()
    return fig
