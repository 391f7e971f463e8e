"""Step 5 (notebook 05): the action synthesis net, the impact law, the impact checks and
realism scores, and the impact mode the final agent trains under. The measurements behind the
last three are in :mod:`ilsim.steps.s05_measures`, the sections' prose in
:mod:`ilsim.steps.s05_notes`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ilsim import features, impact, market, realism, regimes, synthesis
from ilsim.data import bar_of_day
from ilsim.market.assemble import (
    drift_target,
    market_bars,
    market_config,
    run_market,
    segment_pairs,
)
from ilsim.params import Params, resolve_device, shared
from ilsim.plots.simulator import plot_impact_curves, plot_impact_response, plot_influence
from ilsim.pool import il_actions, load_pool
from ilsim.report import write_table
from ilsim.run import Run
from ilsim.steps.result import StepResult, run_sections
from ilsim.steps.s05_measures import (
    choose_impact_mode,
    impact_checks,
    simulator_realism,
)
from ilsim.steps.s05_notes import checks_note, law_note, realism_note, synthesis_note


def fit_synthesis(
    p: Params,
    bars: pd.DataFrame,
    scaled: pd.DataFrame,
    segments: pd.DataFrame,
    acts: np.ndarray,
    progress: bool = True,
) -> tuple[synthesis.SynthesisResult, pd.DataFrame, dict]:
    """Fit the action synthesis network on the ``sim_train`` segments from the pool's actions
    ``acts`` [T, M] at every bar (one step ahead, real features); score it on its validation
    blocks and on the held-out backtests. Returns the fit, the quality table and the meta data
    the simulator needs (real volumes and times of day beside the residuals)."""
    ok = features.valid_mask(scaled)
    rows, rets, sids = segment_pairs(bars, segments, ("sim_train",))
    rows, rets, sids = rows[ok[rows]], rets[ok[rows]], sids[ok[rows]]
    result = synthesis.train_synthesis(
        acts[rows],
        rets,
        segment_ids=sids,
        **shared(p.synthesis, synthesis.train_synthesis),
        seed=p.seed,
        device=resolve_device(p.device),
        progress=progress,
    )
    result.model = result.model.cpu()
    sim_bars = regimes.role_mask(segments, len(bars), "sim_train")
    meta = {
        "residual_volume": bars["volume"].to_numpy()[rows + 1],
        "residual_bar_of_day": bar_of_day(bars.index)[rows + 1],
        "residual_scale": result.residual_scale,
        "sigma_bar": float(np.nanstd(rets)),
        "volume_bar": float(np.median(bars["volume"].to_numpy()[sim_bars])),
        "segments": sorted(set(sids.tolist())),
        # the network's mean prediction on the rows it was fitted on: the drift it carries
        "mean_prediction": float(np.mean(rets - result.residuals)),
    }
    q = result.quality
    table = [
        {
            "data": "sim_train validation blocks",
            **{k[4:]: v for k, v in q.items() if k.startswith("val_")},
        },
        {
            "data": "sim_train training blocks",
            **{k[6:]: v for k, v in q.items() if k.startswith("train_")},
        },
    ]
    brow, brets, _ = segment_pairs(bars, segments, ("backtest",))
    brow, brets = brow[ok[brow]], brets[ok[brow]]
    pred = synthesis.predict_returns(result.model, acts[brow])
    table.append(
        {"data": "backtest segments (held out)", **synthesis.prediction_quality(pred, brets)}
    )
    return result, pd.DataFrame(table), meta


def train_synthesis_net(
    p: Params,
    bars: pd.DataFrame,
    scaled: pd.DataFrame,
    segments: pd.DataFrame,
    root: str | Path = ".",
    progress: bool = True,
) -> tuple[synthesis.SynthesisResult, pd.DataFrame]:
    """Notebook 05's step: fit the synthesis network on the saved agent pool's actions, save it
    with its residuals and write its quality table."""
    run = Run(p, root)
    acts = il_actions(load_pool(run.path("il_agents.pt")), scaled)
    result, quality, meta = fit_synthesis(p, bars, scaled, segments, acts, progress)
    synthesis.save_synthesis(result.model, result.residuals, run.path("synthesis.pt"), meta)
    result.history.to_csv(run.path("synthesis_history.csv"), index=False)
    write_table(quality, p.tables_dir(root), "synthesis_quality", floatfmt=".4g")
    return result, quality


DRIFT_ROUNDS = 2  # calibration rounds (the pool's reply to a shifted drift is nearly linear)


def calibrate_drift(
    p: Params, bars: pd.DataFrame, segments: pd.DataFrame, root: str | Path = "."
) -> list[float]:
    """Make the simulated drift ``market.drift``'s target (issue 25): simulate paths with no
    RL orders (``paper`` mode, 2 × ``market.n_paths`` paths of one episode, a seed apart from
    notebook 05's checks), measure their mean one-bar return and move the drift the synthesis
    artifact says the network carries (``meta["mean_prediction"]``) by the miss; twice. The
    pool trades differently on simulated prices than on real ones, so the network's mean on
    real rows alone leaves a bias (measured in the issue-25 note). Returns the misses (bp)."""
    run = Run(p, root)
    target = drift_target(p, bars, segments)
    if target is None:
        return []
    path = run.path("synthesis.pt")
    misses = []
    for k in range(DRIFT_ROUNDS):
        mdata = run_market(run, "sim_train", "cpu")
        steps = market_bars(p, bars).episode - 1
        cfg = market_config(p, bars, impact="paper", episode_bars=steps + 1)
        m = market.VectorMarket(mdata, cfg, 2 * p.market.n_paths, "cpu")
        price = market.rollout(m, torch.zeros(steps, m.n), p.seed + 1000 + k)["price"]
        miss = float((np.diff(price, axis=1) / price[:, :-1]).mean()) - target
        net, residuals, meta = synthesis.load_synthesis(path)
        meta["mean_prediction"] = float(meta["mean_prediction"]) + miss
        synthesis.save_synthesis(net, residuals, path, meta)
        misses.append(miss * 1e4)
    return misses


def fit_impact(
    p: Params,
    bars: pd.DataFrame,
    scaled: pd.DataFrame,
    segments: pd.DataFrame,
    root: str | Path = ".",
) -> impact.ImpactLaw:
    """Notebook 05's impact law (:func:`ilsim.impact.fit_impact_law`) on the ``sim_train`` bars,
    beside the same fit on placebo flow (volumes permuted: the method's floor without impact),
    with the pool's mean net action (the balance the ``learned`` mode subtracts, measured on
    the simulator's own paths: :func:`pool_balance`); saved as ``impact_law.json`` and the
    table ``impact_law``."""
    run = Run(p, root)
    ranges = regimes.role_ranges(segments, "sim_train")
    if not ranges:
        raise ValueError("no sim_train segment to fit the impact law on")
    rows = np.concatenate([np.arange(a, b + 1) for a, b in ranges])
    sim_bars = bars.iloc[rows]
    law = impact.fit_impact_law(sim_bars, seed=p.seed)
    placebo = impact.fit_impact_law(
        sim_bars, flow=impact.placebo_flow(sim_bars, p.seed), seed=p.seed
    )
    path = run.path("impact_law.json")
    path.write_text(json.dumps({**law.to_dict(), "pool_mean_action": 0.0}, indent=1))
    pool_mean = pool_balance(p, root=root)
    path.write_text(json.dumps({**law.to_dict(), "pool_mean_action": pool_mean}, indent=1))
    table = law.table().merge(
        placebo.table().add_prefix("placebo_").rename(columns={"placebo_parameter": "parameter"}),
        on="parameter",
    )
    extra = {
        "at_grid_edge": float(
            law.half_life
            in (
                impact.HALF_LIVES[0],
                max([h for h in impact.HALF_LIVES if h <= law.bars_per_day] or [0]),
            )
        ),
        "r2": law.r2,
        "alpha": law.alpha,
        "sigma_day": law.sigma_day,
        "volume_day": law.volume_day,
        "n_bars": law.n_bars,
        "pool_mean_action": pool_mean,
    }
    placebo_extra = {"r2": placebo.r2, "sigma_day": placebo.sigma_day}
    table = pd.concat(
        [
            table,
            pd.DataFrame(
                [
                    {"parameter": k, "estimate": v, "placebo_estimate": placebo_extra.get(k)}
                    for k, v in extra.items()
                ]
            ),
        ],
        ignore_index=True,
    )
    write_table(table, p.tables_dir(root), "impact_law", floatfmt=".4g")
    return law


def pool_balance(
    p: Params, n_steps: int | None = None, device: str = "cpu", root: str | Path = "."
) -> float:
    """The pool's mean net action (sum over agents) on the simulator's own paths with no RL
    orders, in ``paper`` mode (where the pool's flow does not feed back into the price): the
    balance that moves nothing in the ``learned`` mode. Measured on simulated rather than real
    features, since that is where it is subtracted."""
    run = Run(p, root)
    mdata = run_market(run, "sim_train", device)
    steps = n_steps or market_bars(p, mdata.bars).episode - 1
    cfg = market_config(p, mdata.bars, impact="paper", episode_bars=steps + 1)
    m = market.VectorMarket(mdata, cfg, p.market.n_paths, device)
    m.reset(p.seed)
    total = 0.0
    for _ in range(steps):
        _, _, _, _, info = m.step(torch.zeros(m.n))
        total += float(info["il_actions"].double().sum(1).mean())
    return total / steps


def synthesis_net(p: Params, root: str | Path = ".") -> StepResult:
    """Section 1: train the action synthesis net on the ``sim_train`` segments and calibrate
    its drift; its fit beside a no-skill forecast."""
    run = Run(p, root)
    r = StepResult()
    bars = run.bars()
    segments = run.segments()
    scaled = run.features()
    result, quality = train_synthesis_net(p, bars, scaled, segments, root)
    calibrate_drift(p, bars, segments, root)
    r.values.update(synthesis=result, segments=segments)
    sim_train = sorted(segments.loc[segments.role == "sim_train", "segment"])
    r.notes["check"] = (
        f"trained on sim_train segments {sim_train}\ninputs: {result.model.n_agents} IL actions "
        f"-> {result.model.n_weights} influence weights"
    )
    r.tables["synthesis_quality"] = quality
    r.notes["synthesis"] = synthesis_note(quality)
    return r


def impact_law(p: Params, root: str | Path = ".") -> StepResult:
    """Section 2: the order-flow impact law fitted on the ``sim_train`` bars, with its placebo."""
    run = Run(p, root)
    r = StepResult()
    bars = run.bars()
    segments = run.segments()
    scaled = run.features()
    law = fit_impact(p, bars, scaled, segments, root)
    law_table = pd.read_csv(p.tables_dir(root) / "impact_law.csv")
    r.values["impact_law"] = law
    r.tables["impact_law"] = law_table
    r.notes["impact_law"] = law_note(law, law_table)
    return r


def influence(p: Params, root: str | Path = ".") -> StepResult:
    """Section 3, Figure 4: each agent's share of the influence over one simulated episode."""
    run = Run(p, root)
    r = StepResult()
    bars = run.bars()
    infl, price = influence_path(p, run_market(run, "sim_train"), bars, root)
    r.save_figure(plot_influence(infl, price), p.figures_dir(root), "fig4_influence_weights")
    r.notes["influence"] = (
        "Influence shares over the period: mean "
        + ", ".join(f"IL{i + 1} {m:.2f}" for i, m in enumerate(infl.mean(0)))
        + f"; largest change of any share over time {np.ptp(infl, axis=0).max():.3f}."
    )
    return r


def impact_probe(p: Params, root: str | Path = ".") -> StepResult:
    """Section 4: does the RL agent's order move the price? One buy in each impact mode against
    the same paths without it; the mode the final agent trains in, chosen from the answer."""
    run = Run(p, root)
    r = StepResult()
    bars = run.bars()
    mdata = run_market(run, "sim_train")
    m = p.market
    horizon = market_bars(p, bars).probe_horizon

    def probe(mode: str) -> pd.DataFrame:
        cfg = market_config(p, bars, impact=mode)
        return market.impact_response(mdata, cfg, m.probe_sizes, m.n_paths, horizon, seed=p.seed)

    response = pd.concat([probe(mode) for mode in market.IMPACT_MODES], ignore_index=True)
    r.write_table(response, p.tables_dir(root), "impact_response", floatfmt=".4g")
    r.save_figure(plot_impact_response(response), p.figures_dir(root), "fig_impact_response")
    r.notes["impact_mode"] = choose_impact_mode(p, response, root)["text"]
    return r


def empirical_laws(p: Params, root: str | Path = ".") -> StepResult:
    """Section 5: each mode's response to a buy of a share of daily volume beside the
    square-root law and its decay."""
    r = StepResult()
    curves, checks = impact_checks(p, run_market(Run(p, root), "sim_train"), root=root)
    r.tables.update(impact_curves=curves, impact_checks=checks)
    r.save_figure(plot_impact_curves(curves, checks), p.figures_dir(root), "fig_impact_laws")
    r.notes["impact_checks"] = checks_note(checks)
    return r


def realism_scores(p: Params, root: str | Path = ".") -> StepResult:
    """Section 6: stylized facts of simulated paths against held-out real bars."""
    r = StepResult()
    mdata = run_market(Run(p, root), "sim_train")
    table = simulator_realism(p, mdata, seed=p.seed, root=root)
    r.tables["realism"] = table
    r.save_figure(realism.plot_realism(table), p.figures_dir(root), "fig_realism")
    r.notes["realism"] = realism_note(p, table)
    return r


SECTIONS = (synthesis_net, impact_law, influence, impact_probe, empirical_laws, realism_scores)


def run(p: Params, root: str | Path = ".") -> StepResult:
    """Step 5 whole (its notebook's sections in order): the synthesis net, the impact law,
    Figure 4, the impact probes and the headline run's impact mode, the checks against the
    empirical laws and the realism scores; writes every output of rule ``simulator``."""
    return run_sections(SECTIONS, p, root)


def influence_path(
    p: Params, mdata: market.MarketData, bars: pd.DataFrame, root: str | Path = "."
) -> tuple[np.ndarray, np.ndarray]:
    """Figure 4's data: one simulated episode (``paper`` mode, no RL trading) and each agent's
    share of the influence at every bar, [T − 1, M], with the price path [T]."""
    run = Run(p, root)
    net, _, _ = synthesis.load_synthesis(run.path("synthesis.pt"))
    cfg = market_config(p, bars, impact="paper")
    env = market.VectorMarket(mdata, cfg, 1)
    env.reset(seed=p.seed)
    infl, price = [], [float(env.price[0])]
    with torch.no_grad():
        for _ in range(cfg.episode_bars - 1):
            _, _, _, _, info = env.step(torch.zeros(1))
            infl.append(net.agent_influence(info["il_actions"].float())[0].numpy())
            price.append(float(info["price"][0]))
    return np.array(infl), np.array(price)
