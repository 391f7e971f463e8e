"""Every figure function draws and saves PNG + PDF."""

import numpy as np
import pandas as pd
import pytest

from ilsim import plots
from ilsim.params import SyntheticParams
from ilsim.regimes import segments_from_extrema
from ilsim.synthetic import generate_bars


def test_figures_save_png_and_pdf(tmp_path):
    bars, extrema = generate_bars(SyntheticParams(n_regimes=4, regime_days=(2, 3)), seed=0)
    seg = segments_from_extrema(extrema, bars)
    daily = bars["close"].groupby(bars.index.date).last()
    rng = np.random.default_rng(0)
    acts = np.tanh(rng.standard_normal((200, 3)))
    idx = bars.index[:200]
    hist = pd.DataFrame(
        {
            "epoch": [1, 2, 1, 2],
            "agent": [1, 1, 2, 2],
            "train_mse": [0.3, 0.2, 0.4, 0.3],
            "val_mse": [0.35, 0.3, 0.4, 0.38],
        }
    )
    mix = pd.DataFrame(
        {
            "segment": [1, 2],
            "regime": ["bull", "bear"],
            "role": ["il_train"] * 2,
            "buy": [0.5, 0.1],
            "hold": [0.3, 0.4],
            "sell": [0.2, 0.5],
        }
    )
    summary = pd.DataFrame(
        {
            "agent": ["IL1", "IL2"],
            "buy_share": [0.2, 0.5],
            "hold_share": [0.5, 0.5],
            "sell_share": [0.3, 0.0],
        }
    )
    figs = {
        "segments": plots.plot_segments(daily, seg, extrema, extrema[:2]),
        "dist": plots.plot_feature_distributions(
            pd.DataFrame(rng.random((60, 2)), columns=["a", "b"]),
            pd.Series(["bull", "bear", "sideways"] * 20),
        ),
        "labels": plots.plot_label_mix(mix),
        "curves": plots.plot_training_curves(hist),
        "pnl": plots.plot_il_pnl(
            idx, 1e6 + rng.random((3, 200)).cumsum(1), 1e6, bars["close"].to_numpy()[:200]
        ),
        "actions": plots.plot_il_actions(idx, acts),
        "heat": plots.plot_heatmap(pd.DataFrame(np.eye(3)), "t"),
        "mix": plots.plot_action_mix(summary),
    }
    for name, fig in figs.items():
        png, pdf = plots.save_figure(fig, tmp_path, name)
        assert png.stat().st_size > 5_000 and pdf.stat().st_size > 1_000
        assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"


def test_backtest_and_simulator_figures(tmp_path):
    rng = np.random.default_rng(1)
    strategies = ["final_rl", "long_only", "rl_baseline", "il_baseline"]
    bt = pd.DataFrame(
        [
            {
                "strategy": s,
                "segment": g,
                "seed": 0,
                "volatility": rng.random() / 1e3,
                "total_return_pct": rng.normal(),
            }
            for s in strategies
            for g in (1, 2)
        ]
    )
    t = 50
    paths = {(1, "price"): 100 + rng.random(t)}
    for s in strategies:
        k = 1 if s == "long_only" else 3
        paths[(1, s)] = {
            "value": 1e6 * (1 + rng.normal(0, 0.01, (k, t))),
            "holdings": rng.random((k, t)) * 100,
            "actions": None,
        }
    idx = pd.date_range("2021-01-04 09:30", periods=t, freq="5min", tz="America/New_York")
    curves = pd.DataFrame(
        {
            "agent": ["final_rl"] * 4 + ["rl_baseline"] * 4,
            "seed": [0, 0, 1, 1] * 2,
            "env_steps": [1, 2] * 4,
            "episode_return_mean": rng.normal(size=8),
        }
    )
    response = pd.DataFrame(
        {
            "impact": ["paper"] * 2 + ["calibrated"] * 2,
            "size": [0.0, 1.0] * 2,
            "response_bp": [0, 0, 0, 1.0],
            "ci_low": [0, 0, 0, 0.9],
            "ci_high": [0, 0, 0, 1.1],
        }
    )
    methods = pd.DataFrame(
        {
            "method": ["bc", "gail"] * 2,
            "demonstrator": ["hindsight"] * 2 + ["hybrid"] * 2,
            "accuracy": [0.5, 0.6, 0.7, 0.8],
            "majority_rate": [0.6] * 4,
            "total_return_pct": [1.0, -2.0, 0.5, 3.0],
        }
    )
    figs = {
        "risk": plots.plot_risk_return(bt),
        "case": plots.plot_case(paths, 1, idx, "case"),
        "curves": plots.plot_training_curves_rl(curves),
        "influence": plots.plot_influence(rng.dirichlet(np.ones(3), size=40), 100 + rng.random(41)),
        "impact": plots.plot_impact_response(response),
        "methods": plots.plot_il_methods(methods),
        "empty_history": plots.plot_training_curves(
            pd.DataFrame(columns=["epoch", "agent", "train_mse", "val_mse"])
        ),
    }
    for name, fig in figs.items():
        png, pdf = plots.save_figure(fig, tmp_path, name)
        assert png.stat().st_size > 2_000 and pdf.read_bytes()[:4] == b"%PDF"


def test_case_plot_draws_each_seed_and_labels_degenerate_ones():
    t = 200
    rng = np.random.default_rng(2)
    price = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, t)))
    value = np.full((3, t), 1e6)
    holdings = np.stack(
        [
            np.zeros(t),  # all cash throughout: degenerate
            np.full(t, 1e6 / price[0]),  # all in at the first bar, then held: degenerate
            np.tile([0.0, 5e3], t // 2),  # trades every bar
        ]
    )
    paths = {(1, "price"): price}
    for s in ("final_rl", "long_only", "rl_baseline", "il_baseline"):
        k = 1 if s == "long_only" else 3
        paths[(1, s)] = {"value": value[:k], "holdings": holdings[:k], "actions": None}
    idx = pd.date_range("2021-01-04 09:30", periods=t, freq="5min", tz="America/New_York")
    fig = plots.plot_case(paths, 1, idx, "case", seeds=[10, 11, 12])
    axp = fig.axes[1]
    assert len(axp.get_lines()) == 3  # one line per seed, no seed mean
    labels = [line.get_label() for line in axp.get_lines()]
    assert labels == ["seed 10 (degenerate)", "seed 11 (degenerate)", "seed 12"]
    assert [line.get_linestyle() for line in axp.get_lines()] == ["--", "--", "-"]
    assert "2 of 3 degenerate" in axp.get_title()
    np.testing.assert_allclose(axp.get_lines()[1].get_ydata(), 1e6 / price[0] * price / 1e6)
    with pytest.raises(ValueError, match="seeds"):
        plots.plot_case(paths, 1, idx, "case", seeds=[0])


def test_learner_figures_show_every_seed_and_the_oracle_free_cases(tmp_path):
    from ilsim import ddpg

    rows = []
    for agent in ("final_rl", "rl_baseline"):
        for seed in (0, 1):
            for step in (100, 200, 300):
                row = {c: 0.1 for c in ddpg.CURVE_COLUMNS}
                row.update(agent=agent, seed=seed, env_steps=step, vector_step=step)
                rows.append(row)
    curves = pd.DataFrame(rows)
    fig = plots.plot_rl_diagnostics(curves)
    first = fig.axes[0]
    assert len(first.get_lines()) == 2  # one line per seed
    for prefix, span in (("hist_", 1.0), ("pre_", 4.0)):
        fig = plots.plot_action_histograms(curves, prefix=prefix, span=span)
        assert len(fig.axes) == 4 and fig.axes[0].images[0].get_extent()[2:] == [-span, span]
    study = pd.DataFrame(
        {
            "case": ["a", "a", "b", "b"],
            "fraction_of_oracle": [0.9, 0.95, np.nan, np.nan],
            "learned_bp_per_bar": [0.7, 0.75, 0.0, -0.01],
        }
    )
    fig = plots.plot_planted_edge(study)
    assert any("oracle: all cash" in t.get_text() for t in fig.axes[0].texts)
    assert len(plots.save_figure(fig, tmp_path, "planted")) == 2


def assert_every_series_visible(fig) -> None:
    """Issue 13: a labelled line lying exactly on an earlier one must say so in its label."""
    for ax in fig.axes:
        seen = []
        for line in ax.get_lines():
            label = str(line.get_label())
            if label.startswith("_"):
                continue
            y = np.asarray(line.get_ydata(), float)
            hidden = any(
                y.shape == other.shape and np.allclose(y, other, equal_nan=True) for other in seen
            )
            assert not hidden or "coincides with" in label, (ax.get_title(), label)
            seen.append(y)


def test_figures_say_when_a_series_hides_another():
    t = 120
    rng = np.random.default_rng(3)
    price = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, t)))
    cash = np.full((2, t), 1e6)  # two learned strategies both all in cash
    paths = {(1, "price"): price}
    for s in ("final_rl", "long_only", "rl_baseline", "il_baseline"):
        k = 1 if s == "long_only" else 2
        value = 1e6 * price[None, :] / price[0] if s == "long_only" else cash[:k]
        holdings = np.zeros((k, t)) if s != "long_only" else np.full((1, t), 1e6 / price[0])
        paths[(1, s)] = {"value": value, "holdings": holdings, "actions": None}
    idx = pd.date_range("2021-01-04 09:30", periods=t, freq="5min", tz="America/New_York")
    fig = plots.plot_case(paths, 1, idx, "case", seeds=[0, 1])
    assert_every_series_visible(fig)
    labels = [str(ln.get_label()) for ln in fig.axes[0].get_lines()]
    assert any("rl_baseline" in lb and "coincides with final_rl" in lb for lb in labels)
    assert any("mean of 2 seeds" in lb for lb in labels)

    flat = np.full((3, t), 1e6)
    flat[0] += np.linspace(0, 1e4, t)  # one agent trades, two never do
    fig = plots.plot_il_pnl(idx, flat, 1e6, price)
    assert_every_series_visible(fig)
    assert sum("coincides" in str(ln.get_label()) for ln in fig.axes[0].get_lines()) == 1

    resp = pd.DataFrame(
        {
            "impact": ["none"] * 3 + ["paper"] * 3 + ["calibrated"] * 3,
            "size": [0.1, 0.5, 1.0] * 3,
            "response_bp": [0, 0, 0, 0, 0, 0, 0.5, 1.0, 1.5],
            "ci_low": 0.0,
            "ci_high": 0.0,
        }
    )
    fig = plots.plot_impact_response(resp)
    assert_every_series_visible(fig)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "paper (coincides with none)" in legend


def test_a_line_without_data_says_so_instead_of_coinciding():
    import matplotlib.pyplot as plt

    from ilsim.plots import note_coinciding

    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [np.nan] * 3, label="empty A")
    ax.plot([0, 1, 2], [np.nan] * 3, label="empty B")
    ax.plot([0, 1, 2], [1.0, 2.0, 3.0], label="data")
    noted = note_coinciding(ax)
    assert noted == ["empty A (no data)", "empty B (no data)"]
    plt.close(fig)
