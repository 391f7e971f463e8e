"""Tests for ilsim.stylized_facts: path sets from bars, the stylized facts and their definitions."""

import numpy as np
import pandas as pd
import pytest
from realdata import real_file
from synthetic_paths import NEW_FACTS, B, gbm_like, layout, leverage_paths, sv_paths, u_volume

from ilsim.stylized_facts import PathSet, stylized_facts

NY = "America/New_York"


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


# ----------------------------------------------------------------------------------------------
# Facts of the ABIDES / MarS realism reports: skew, aggregation, leverage, returns/volatility
# correlation, intermittency
# ----------------------------------------------------------------------------------------------


def test_iid_gaussian_has_none_of_the_new_facts():
    ps = gbm_like(100, 2000, seed=21)
    f = stylized_facts(ps)
    assert f["kurtosis_agg"].shape == (20,) and f["leverage"].shape == (20,)
    assert f["ret_vol_corr"].shape == (20,)
    assert abs(f["skew"]) < 0.03
    assert np.max(np.abs(f["kurtosis_agg"])) < 0.2  # ~0 at every horizon
    assert f["kurtosis_agg"][0] == pytest.approx(f["kurtosis"], rel=1e-12)
    assert np.max(np.abs(f["leverage"])) < 0.015
    assert np.max(np.abs(f["ret_vol_corr"])) < 0.04
    assert f["fano"] == pytest.approx(0.99, abs=0.05)  # binomial counts: 1 - p = quantile
    g = stylized_facts(ps, fano_window=20, fano_quantile=0.9)
    assert g["fano"] == pytest.approx(0.9, abs=0.04)
    assert np.array_equal(g["kurtosis_agg"], f["kurtosis_agg"])  # other facts unaffected


def test_aggregation_of_iid_student_t_divides_kurtosis_by_k():
    rng = np.random.default_rng(22)
    p, t = 200, 2000
    f = stylized_facts(PathSet(1e-3 * rng.standard_t(10, (p, t)), None, layout(p, t), B))
    k = np.arange(1, 21)
    kurt = f["kurtosis"]  # t(10): excess kurtosis 1; cumulants add, so k bars give kurt / k
    assert kurt == pytest.approx(1.0, abs=0.3)
    np.testing.assert_allclose(f["kurtosis_agg"][:4] * k[:4] / kurt, 1.0, atol=0.3)
    np.testing.assert_allclose(f["kurtosis_agg"], kurt / k, atol=0.15)
    clustered = stylized_facts(leverage_paths(p // 2, t, seed=23))
    assert clustered["kurtosis_agg"][-1] > clustered["kurtosis_agg"][0] / 2  # no 1/k decay


def test_skew_of_planted_asymmetric_returns():
    rng = np.random.default_rng(24)
    p, t = 50, 1000
    g = 1e-3 * (rng.gamma(4.0, 1.0, (p, t)) - 4.0) / 2.0  # skewness 2 / sqrt(4) = 1
    assert stylized_facts(PathSet(g, None, layout(p, t), B))["skew"] == pytest.approx(1, abs=0.1)
    assert stylized_facts(PathSet(-g, None, layout(p, t), B))["skew"] == pytest.approx(-1, abs=0.1)


def test_planted_leverage_process_has_negative_leverage_and_intermittency():
    f = stylized_facts(leverage_paths(100, 2000, seed=25))
    assert np.all(f["leverage"][:10] < -0.05)
    assert f["leverage"][0] < f["leverage"][-1] < 0  # decays towards 0
    assert abs(f["skew"]) < 0.25  # symmetric shocks: one-bar returns are not skewed
    assert abs(f["ret_vol_corr"][0]) < 0.03  # ... so corr(r, |r|) is ~0
    assert np.all(f["ret_vol_corr"][4:] < -0.1)  # but falling stretches are the volatile ones
    assert f["fano"] > 1.5
    assert np.max(np.abs(f["acf_r"])) < 0.02
    skewed = stylized_facts(leverage_paths(50, 1000, seed=26, skewed=True))
    assert skewed["skew"] < -0.5 and skewed["ret_vol_corr"][0] < -0.2


def test_new_facts_match_naive_definitions():
    ps = leverage_paths(8, 400, seed=27, skewed=True)
    ps.returns[2, 100:130] = np.nan
    ps.returns[5, 300:] = np.nan  # a shorter path
    f = stylized_facts(ps, max_agg=4, max_lag_lev=3, fano_window=5, fano_quantile=0.9)
    r = np.where(ps.bod2d() == 0, np.nan, ps.returns)
    pooled = r[np.isfinite(r)]
    c = pooled - pooled.mean()
    assert f["skew"] == pytest.approx(np.mean(c**3) / np.mean(c**2) ** 1.5, rel=1e-9)
    valid = [row[np.isfinite(row)] for row in r]  # overnight and missing returns dropped
    for k in range(1, 5):
        blocks = [v[: len(v) // k * k].reshape(-1, k) for v in valid]
        agg = np.concatenate([b.sum(1) for b in blocks])
        d = agg - agg.mean()
        naive = np.mean(d**4) / np.mean(d**2) ** 2 - 3
        assert f["kurtosis_agg"][k - 1] == pytest.approx(naive, rel=1e-9)
        rho = [np.corrcoef(b.sum(1), np.sqrt((b**2).sum(1)))[0, 1] for b in blocks]
        weights = [len(b) for b in blocks]
        assert f["ret_vol_corr"][k - 1] == pytest.approx(np.average(rho, weights=weights))
    zr = r - np.nanmean(r, 1, keepdims=True)
    za = np.abs(r) - np.nanmean(np.abs(r), 1, keepdims=True)
    norm = np.sqrt(np.nanmean(zr**2) * np.nanmean(za**2))
    naive = [np.nanmean(zr[:, :-k] * za[:, k:]) / norm for k in (1, 2, 3)]
    np.testing.assert_allclose(f["leverage"], naive, rtol=1e-9)
    thr = np.quantile(np.abs(pooled), 0.9)
    counts = np.concatenate(
        [(np.abs(v[: len(v) // 5 * 5]) > thr).reshape(-1, 5).sum(1) for v in valid]
    )
    assert f["fano"] == pytest.approx(counts.var() / counts.mean(), rel=1e-9)


def test_new_facts_ignore_volume_and_tolerate_ragged_paths():
    ps = sv_paths(20, 1000, seed=28)
    f = stylized_facts(ps)
    g = stylized_facts(PathSet(ps.returns, None, ps.bar_of_day, B))
    for name in NEW_FACTS:
        np.testing.assert_array_equal(f[name], g[name])
    r, bod = ps.returns.copy(), np.array(ps.bod2d())
    r[::2, 600:] = np.nan  # every other path ends early
    r[1, :] = np.nan  # and one is empty
    h = stylized_facts(PathSet(r, ps.volume, bod, B))
    r[::2], bod[::2] = np.roll(r[::2], 400, axis=1), np.roll(bod[::2], 400, axis=1)
    h_left = stylized_facts(PathSet(r, ps.volume, bod, B))  # padded at the start instead
    for name in NEW_FACTS:
        assert np.all(np.isfinite(h[name])), name
        np.testing.assert_allclose(h_left[name], h[name], rtol=1e-9, err_msg=name)
    with pytest.raises(ValueError, match="fano_quantile"):
        stylized_facts(ps, fano_quantile=1.0)
