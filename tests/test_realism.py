"""Tests for ilsim.realism: distances, bootstrap table, GBM baseline, figure."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from synthetic_paths import NEW_FACTS, B, gbm_like, layout, leverage_paths, sv_paths

from ilsim import realism
from ilsim import stylized_facts as facts_module
from ilsim.realism import (
    DISTANCE_SCALES,
    FACT_FAMILIES,
    fact_distances,
    gbm_paths,
    plot_realism,
    realism_table,
)
from ilsim.stylized_facts import PathSet, stylized_facts


def test_facts_are_re_exported():
    assert realism.PathSet is facts_module.PathSet
    assert realism.stylized_facts is facts_module.stylized_facts
    assert {"PathSet", "stylized_facts"} <= set(realism.__all__)


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


def test_realism_table_shape_and_intervals():
    real = sv_paths(100, 2000, seed=5)
    cands = {"sv": sv_paths(100, 2000, seed=6), "gbm": gbm_paths(real, 100, 2000, seed=7)}
    tab = realism_table(real, cands, n_boot=200, seed=0)  # speed: benchmarks/, not asserted
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


# ----------------------------------------------------------------------------------------------
# Distances and intervals of the ABIDES / MarS facts: skew, aggregation, leverage,
# returns/volatility correlation, intermittency
# ----------------------------------------------------------------------------------------------


def test_new_fact_distances():
    f = stylized_facts(sv_paths(20, 1000, seed=29))
    g = dict(
        f,
        skew=f["skew"] + 0.3,
        kurtosis_agg=2 * f["kurtosis_agg"] + 3,  # raw kurtosis doubles at every horizon
        leverage=f["leverage"] + 0.02,
        ret_vol_corr=f["ret_vol_corr"] - 0.05,
        fano=2 * f["fano"],
    )
    d = fact_distances(g, f)
    expected = {
        "skew": 0.3,
        "kurtosis_agg": np.log(2),
        "leverage": 0.02,
        "ret_vol_corr": 0.05,
        "fano": np.log(2),
    }
    for name, value in expected.items():
        assert d[name] == pytest.approx(value, rel=1e-9), name
    scaled = sum(v / DISTANCE_SCALES[k] for k, v in expected.items())
    assert d["total"] == pytest.approx(scaled / len(FACT_FAMILIES), rel=1e-9)


def _new_fact_intervals(real: PathSet, cand: PathSet, facts: list[str]) -> dict[int, pd.Series]:
    """Bootstrap interval widths of ``facts`` for 24 and 192 paths; checks they bracket."""
    width = {}
    for p in (24, 192):
        idx = np.arange(p)
        tab = realism_table(real.take(idx), {"c": cand.take(idx)}, n_boot=200, seed=1)
        sub = tab[tab["candidate"] == "c"].set_index("fact").loc[facts]
        assert (sub["ci_low"] <= sub["distance"]).all(), sub
        assert (sub["distance"] <= sub["ci_high"]).all(), sub
        width[p] = sub["ci_high"] - sub["ci_low"]
    return width


def test_new_facts_bootstrap_brackets_and_narrows_with_more_paths():
    # a real set with leverage, skewed shocks and clustering against i.i.d. normal returns:
    # every new fact differs, so the distances sit well inside their intervals
    real = leverage_paths(192, 1000, seed=30, skewed=True, c=0.1, phi=0.9)
    width = _new_fact_intervals(real, gbm_like(192, 1000, seed=31), list(NEW_FACTS))
    light = ["skew", "leverage", "ret_vol_corr", "fano"]
    assert (width[192][light] < 0.8 * width[24][light]).all(), width  # 8x paths: ~1/sqrt(8)
    # the bootstrap of a kurtosis is unreliable for heavy tails with few paths (it misses the
    # rare large returns, so the small-sample interval can be the narrower one): check that
    # kurtosis_agg narrows on i.i.d. Laplace returns (excess kurtosis 3/k, all moments finite)
    rng = np.random.default_rng(32)
    laplace = PathSet(1e-3 * rng.laplace(size=(192, 1000)), None, layout(192, 1000), B)
    width = _new_fact_intervals(laplace, gbm_like(192, 1000, seed=33), ["kurtosis_agg"])
    assert width[192]["kurtosis_agg"] < 0.8 * width[24]["kurtosis_agg"]
