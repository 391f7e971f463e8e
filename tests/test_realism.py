"""Tests for ilsim.realism: stylized facts, distances, bootstrap table, GBM baseline, figure."""

import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy.signal import lfilter

from ilsim.realism import (
    DISTANCE_SCALES,
    FACT_FAMILIES,
    PathSet,
    fact_distances,
    gbm_paths,
    plot_realism,
    realism_table,
    stylized_facts,
)

NY = "America/New_York"
REAL_NAME = "qqq_5min_2020-10_2024-12.parquet"
SHARED = Path(__file__).parents[2] / "shared" / "data"
B = 78  # bars per day (5-minute bars)


def layout(p: int, t: int) -> np.ndarray:
    """Bar of day of consecutive full sessions, [T]."""
    return np.arange(t) % B


def u_volume(p: int, t: int, rng: np.random.Generator, depth: float = 2.0) -> np.ndarray:
    """Lognormal volume around an intraday U-shape of the given depth."""
    x = (layout(p, t) + 0.5) / B
    shape = 1.0 + depth * ((2 * x - 1) ** 2)
    return 1e5 * shape * rng.lognormal(0.0, 0.3, (p, t))


def sv_paths(p: int = 60, t: int = 2000, seed: int = 1) -> PathSet:
    """Stochastic volatility (AR(1) log-vol) with Student-t shocks; volume follows |r|."""
    rng = np.random.default_rng(seed)
    h = lfilter([1.0], [1.0, -0.98], 0.1 * rng.standard_normal((p, t)), axis=1)
    r = 1e-3 * np.exp(h) * rng.standard_t(5, (p, t)) / np.sqrt(5 / 3)
    vol = u_volume(p, t, rng) * np.exp(h)
    return PathSet(r, vol, layout(p, t), B)


def gbm_like(p: int = 60, t: int = 2000, seed: int = 2) -> PathSet:
    """I.i.d. normal returns with U-shaped volume."""
    rng = np.random.default_rng(seed)
    return PathSet(1e-3 * rng.standard_normal((p, t)), u_volume(p, t, rng), layout(p, t), B)


def test_gbm_has_no_stylized_facts():
    f = stylized_facts(gbm_like(100, 2000))
    assert abs(f["kurtosis"]) < 0.1
    assert f["acf_r"].shape == (10,) and f["acf_abs"].shape == (20,)
    assert np.max(np.abs(f["acf_r"])) < 0.015
    assert np.max(np.abs(f["acf_abs"])) < 0.015
    assert abs(f["vol_volume_corr"]) < 0.02
    assert abs(f["u_abs_ratio"] - 1.0) < 0.05
    assert f["u_volume"].shape == (B,) and np.isclose(np.mean(f["u_volume"]), 1.0)


def test_stochastic_volatility_has_fat_tails_and_clustering():
    f = stylized_facts(sv_paths())
    assert f["kurtosis"] > 1.0
    assert np.all(f["acf_abs"][:5] > 0.05)
    assert np.max(np.abs(f["acf_r"])) < 0.02
    assert f["vol_volume_corr"] > 0.1


def test_u_shape_ratio():
    rng = np.random.default_rng(3)
    p, t = 30, 780
    r = 1e-3 * rng.standard_normal((p, t))
    u = stylized_facts(PathSet(r, u_volume(p, t, rng), layout(p, t), B))
    flat = stylized_facts(PathSet(r, 1e5 * rng.lognormal(0, 0.3, (p, t)), layout(p, t), B))
    assert u["u_volume_ratio"] > 1.3
    assert abs(flat["u_volume_ratio"] - 1.0) < 0.05
    assert u["u_volume"][0] > u["u_volume"][B // 2]


def test_exclude_overnight_drops_first_bar_returns():
    ps = gbm_like(20, 780)
    ps.returns[:, ps.bar_of_day == 0] = 0.05  # huge overnight gaps
    with_gaps = stylized_facts(ps, exclude_overnight=False)
    without = stylized_facts(ps)
    assert with_gaps["kurtosis"] > 10
    assert abs(without["kurtosis"]) < 0.3
    assert np.isnan(without["u_abs"][0]) and np.isfinite(with_gaps["u_abs"][0])


def test_facts_match_naive_definitions():
    ps = sv_paths(8, 400, seed=11)
    ps.returns[2, 100:130] = np.nan
    f = stylized_facts(ps, max_lag_r=3, max_lag_abs=3)
    r = np.where(ps.bod2d() == 0, np.nan, ps.returns)
    for x, acf in ((r, f["acf_r"]), (np.abs(r), f["acf_abs"])):
        z = x - np.nanmean(x, 1, keepdims=True)
        var = np.nanmean(z**2)
        naive = [np.nanmean(z[:, :-k] * z[:, k:]) / var for k in (1, 2, 3)]
        np.testing.assert_allclose(acf, naive, rtol=1e-9)
    pooled = r[np.isfinite(r)]
    c = pooled - pooled.mean()
    assert f["kurtosis"] == pytest.approx(np.mean(c**4) / np.mean(c**2) ** 2 - 3, rel=1e-9)
    rho, n = [], []
    for a, v in zip(np.abs(r), ps.volume, strict=True):
        m = np.isfinite(a)
        rho.append(np.corrcoef(a[m], v[m])[0, 1])
        n.append(m.sum())
    assert f["vol_volume_corr"] == pytest.approx(np.average(rho, weights=n), rel=1e-9)


def test_missing_values_are_ignored():
    ps = sv_paths(20, 1000)
    holes = PathSet(ps.returns.copy(), ps.volume.copy(), ps.bar_of_day, B)
    holes.returns[:, 500:510] = np.nan
    f, g = stylized_facts(ps), stylized_facts(holes)
    assert np.all(np.isfinite(g["acf_abs"])) and np.isfinite(g["kurtosis"])
    assert abs(f["acf_abs"][0] - g["acf_abs"][0]) < 0.03


def test_distance_to_itself_is_zero_and_kurtosis_formula():
    f = stylized_facts(sv_paths(20, 1000))
    d = fact_distances(f, f)
    assert set(d) == {*FACT_FAMILIES, "total"}
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in d.values())
    g = dict(f, kurtosis=2 * f["kurtosis"] + 3)  # raw kurtosis doubles
    assert fact_distances(g, f)["kurtosis"] == pytest.approx(np.log(2))
    assert fact_distances(g, f)["total"] == pytest.approx(
        np.log(2) / DISTANCE_SCALES["kurtosis"] / len(FACT_FAMILIES)
    )


def test_gbm_paths_baseline():
    real = sv_paths(20, 1000)
    g = gbm_paths(real, n_paths=30, length=1500, seed=4)
    assert g.returns.shape == g.volume.shape == (30, 1500)
    assert np.array_equal(g.bod2d()[0, :1000], real.bod2d()[0])  # copied, then continued
    assert np.array_equal(g.bod2d()[:, 1:] % B, (g.bod2d()[:, :-1] + 1) % B)
    real_r = real.returns[:, real.bar_of_day != 0]
    assert np.std(g.returns) == pytest.approx(np.std(real_r), rel=0.05)
    f = stylized_facts(g)
    assert f["vol_volume_corr"] == 0.0  # constant volume: no relation, counted as 0
    assert np.allclose(f["u_volume"], 1.0)
    d = fact_distances(f, stylized_facts(real))
    assert d["vol_volume_corr"] == pytest.approx(stylized_facts(real)["vol_volume_corr"])
    assert np.array_equal(gbm_paths(real, 30, 1500, 4).returns, g.returns)


def test_no_volume_gives_nan_volume_facts():
    ps = sv_paths(10, 500)
    nov = PathSet(ps.returns, None, ps.bar_of_day, B)
    f = stylized_facts(nov)
    assert np.isnan(f["vol_volume_corr"]) and np.all(np.isnan(f["u_volume"]))
    d = fact_distances(f, stylized_facts(ps))
    assert np.isnan(d["u_volume"]) and np.isnan(d["vol_volume_corr"])
    assert np.isfinite(d["total"])
    assert gbm_paths(nov, 5, 100, 0).volume is None


def test_realism_table_shape_intervals_and_speed():
    real = sv_paths(100, 2000, seed=5)
    cands = {"sv": sv_paths(100, 2000, seed=6), "gbm": gbm_paths(real, 100, 2000, seed=7)}
    t0 = time.perf_counter()
    tab = realism_table(real, cands, n_boot=200, seed=0)
    assert time.perf_counter() - t0 < 5.0
    facts = [*FACT_FAMILIES, "total"]
    assert len(tab) == 3 * len(facts)
    assert list(tab["candidate"].unique()) == ["sv", "gbm", "real (half-split)"]
    assert all(list(g["fact"]) == facts for _, g in tab.groupby("candidate", sort=False))
    assert (tab["ci_low"] <= tab["ci_high"]).all()
    assert (tab["distance"] >= 0).all()
    cand = tab[tab["candidate"] != "real (half-split)"]
    inside = (cand["ci_low"] <= cand["distance"]) & (cand["distance"] <= cand["ci_high"])
    assert inside.mean() >= 0.6
    by = tab.set_index(["candidate", "fact"])["distance"]
    assert by["gbm", "total"] > by["sv", "total"]
    assert by["gbm", "kurtosis"] > by["sv", "kurtosis"]
    assert by["gbm", "acf_abs"] > 3 * by["real (half-split)", "acf_abs"]


def test_realism_table_is_seeded():
    real, cand = sv_paths(20, 500, 8), {"c": gbm_like(20, 500, 9)}
    a = realism_table(real, cand, n_boot=50, seed=3)
    b = realism_table(real, cand, n_boot=50, seed=3)
    c = realism_table(real, cand, n_boot=50, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["ci_high"], c["ci_high"])
    assert "real (half-split)" not in set(
        realism_table(real, cand, n_boot=10, include_real_split=False)["candidate"]
    )


def test_plot_realism():
    real = sv_paths(20, 500, 8)
    tab = realism_table(real, {"sv": sv_paths(20, 500, 9), "gbm": gbm_paths(real, 20, 500, 1)})
    fig = plot_realism(tab)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == len(FACT_FAMILIES) + 1
    assert any(line.get_linestyle() == "--" for ax in titled for line in ax.get_lines())
    matplotlib.pyplot.close(fig)


def make_bars(n_days: int = 5, per_day: int = B, drop: tuple[int, ...] = ()) -> pd.DataFrame:
    """Canonical 5-minute bars; volume = bar position (to trace windows); rows ``drop`` removed."""
    days = pd.bdate_range("2021-03-08", periods=n_days)
    stamps = [
        pd.Timestamp(f"{d.date()} 09:30", tz=NY) + pd.Timedelta(minutes=5 * k)
        for d in days
        for k in range(per_day)
    ]
    idx = pd.DatetimeIndex(stamps, name="timestamp")
    keep = np.setdiff1d(np.arange(len(idx)), drop)
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 1e-3, len(idx))))
    df = pd.DataFrame({"open": close, "high": close, "low": close, "close": close}, index=idx)
    df = df.iloc[keep]
    df["volume"] = np.arange(len(df), dtype=np.float64)
    return df


def test_from_bars_windows_respect_ranges():
    bars = make_bars(5)
    ranges = [(10, 120), (150, 389)]
    ps = PathSet.from_bars(bars, ranges, length=50)
    assert ps.returns.shape == (2 + 4, 50)
    pos = ps.volume.astype(int)  # volume holds the bar position
    assert len(np.unique(pos)) == pos.size  # windows do not overlap
    for row in pos:
        assert np.all(np.diff(row) == 1)
        assert any(a <= row[0] and row[-1] <= b for a, b in ranges)
    assert list(pos[:, 0]) == [10, 60, 150, 200, 250, 300]
    assert np.isnan(ps.returns[0, 0]) and np.isnan(ps.returns[2, 0])  # range starts
    assert np.isfinite(ps.returns[1, 0])  # window inside a range: a real return
    close = bars["close"].to_numpy()
    assert ps.returns[1, 1] == pytest.approx(close[61] / close[60] - 1)
    assert np.array_equal(ps.bar_of_day, np.asarray(pos) % B)
    assert ps.bars_per_day == B
    whole = PathSet.from_bars(bars, None, length=100)
    assert whole.returns.shape == (3, 100)
    with pytest.raises(ValueError, match="outside"):
        PathSet.from_bars(bars, [(0, 10_000)], 50)


def test_from_bars_bar_of_day_uses_clock_time():
    bars = make_bars(2, drop=(5,))  # a missing bar inside day 1
    ps = PathSet.from_bars(bars, None, length=len(bars))
    bod = ps.bar_of_day[0]
    assert list(bod[:7]) == [0, 1, 2, 3, 4, 6, 7]
    assert bod[B - 1] == 0 and bod[-1] == B - 1


def real_file() -> Path:
    """The real 5-minute QQQ file (ILSIM_DATA or ../shared/data); skip when absent."""
    env = os.environ.get("ILSIM_DATA")
    for p in ([Path(env), Path(env) / REAL_NAME] if env else []) + [SHARED / REAL_NAME]:
        if p.is_file() and p.name == REAL_NAME:
            return p
    pytest.skip(f"real data file {REAL_NAME} not found")


@pytest.mark.realdata
def test_real_qqq_stylized_facts():
    from ilsim.data import import_bars

    bars, _ = import_bars(real_file())
    ps = PathSet.from_bars(bars, None, length=2000)
    f = stylized_facts(ps)
    assert ps.bars_per_day == B
    assert f["kurtosis"] > 3
    assert f["acf_abs"][0] > 0.1
    assert f["u_volume_ratio"] > 1.2
    assert f["u_abs_ratio"] > 1.1
    assert np.max(np.abs(f["acf_r"])) < 0.05
    assert f["vol_volume_corr"] > 0.2
