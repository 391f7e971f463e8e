"""Step 6 (``ilsim train-policy``, notebook 06): DDPG agents trained inside the simulator
(final_rl), on static data (rl_baseline) and by imitation (il_baseline), chosen on
validation; their training summaries and the planted-edge and real-edge probes."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ilsim import (
    backtest,
    data,
    imitation,
    impact,
    market,
    plots,
    regimes,
    timings,
)
from ilsim.artifacts import LEARNED, artifact, policy_path
from ilsim.params import Params, minutes_to_bars, resolve_device, shared
from ilsim.pool import il_datasets, il_train_config
from ilsim.steps import StepResult
from ilsim.world import (
    bar_minutes,
    final_impact_mode,
    market_config,
    market_data,
    new_sessions,
)


def ddpg_config(p: Params, seeds: Sequence[int] | None = None, **overrides: Any):
    """The ``rl`` params as a DDPG configuration (paper Table 5 plus our choices) for the given
    seeds (default: all of ``rl.seeds``, trained together as stacked networks)."""
    from ilsim import ddpg

    fixed = {
        "seeds": tuple(p.rl.seeds if seeds is None else seeds),
        "device": resolve_device(p.device),
    }
    cfg = ddpg.DDPGConfig(**{**shared(p.rl, ddpg.DDPGConfig), **fixed})
    return replace(cfg, **overrides)  # an unknown name raises TypeError


def validation_evaluator(
    p: Params,
    root: str | Path = ".",
    law: impact.ImpactLaw | None = None,
    initial_cash: float | None = None,
    fee: float | None = None,
):
    """Score K stacked actors on the ``validation`` segments: static real prices with the
    backtest's rules (fee, fills at the next close); the score is the mean over segments of the
    log growth of the account (higher is better). ``None`` when no segment has that role.
    ``law``/``initial_cash``: the impact-aware backtest at that portfolio size instead;
    ``fee``: default ``backtest.fee``."""
    from ilsim import ddpg

    bars = data.load_bars(artifact(p, "bars.parquet", root))
    scaled = pd.read_parquet(artifact(p, "features.parquet", root)).to_numpy(np.float32)
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    ranges = regimes.role_ranges(segments, "validation")
    if not ranges:
        return None
    close = bars["close"].to_numpy()
    starts = new_sessions(bars.index)
    cash = p.backtest.initial_cash if initial_cash is None else initial_cash
    fee = p.backtest.fee if fee is None else fee

    def score(actor: ddpg.Actor) -> np.ndarray:
        cpu = copy.deepcopy(actor).cpu()
        out = np.zeros(cpu.k)
        for a, b in ranges:
            res, _ = backtest.run_policy_backtest(
                close[a : b + 1],
                scaled[a : b + 1],
                cpu.policy(),
                cpu.k,
                initial_cash=cash,
                fee=fee,
                mode=p.market.action_mode,
                impact=law,
                new_session=starts[a : b + 1],
            )
            out += np.log(res.value[:, -1] / cash)
        return out / len(ranges)

    return score


def train_policy(
    p: Params, agent: str, root: str | Path = ".", progress: bool = True
) -> pd.DataFrame:
    """Train one learned policy for every seed of ``rl.seeds``; save each seed's policy and
    training curve (diagnostics, ``.csv`` beside it). Returns one summary row per seed.

    ``final_rl``: DDPG in the simulator (impact mode from :func:`final_impact_mode`);
    ``rl_baseline``: the same DDPG on static replay of the ``il_train`` segments. The seeds
    train together as stacked networks, selected and stopped on the ``validation`` segments.
    ``il_baseline``: one BC agent per seed on the union of the ``il_train`` labels.
    """
    seeds = list(p.rl.seeds)
    rows = []
    if agent == "il_baseline":
        segments = regimes.load_segments(artifact(p, "segments.csv", root))
        scaled = pd.read_parquet(artifact(p, "features.parquet", root))
        labels = pd.read_parquet(artifact(p, "labels.parquet", root))["label"]
        sets, _ = il_datasets(segments, scaled, labels)
        union = (np.concatenate([x for x, _ in sets]), np.concatenate([y for _, y in sets]))
        for seed in seeds:
            out = policy_path(p, agent, seed, root)
            res = imitation.train_ensemble([union], il_train_config(p, seed), progress=progress)
            imitation.save_agents(res.model.cpu(), out, {"agent": agent, "seed": seed})
            res.history.rename(columns={"epoch": "step"}).to_csv(
                out.with_suffix(".csv"), index=False
            )
            rows.append({"agent": agent, "seed": seed, "epochs": int(res.history["epoch"].max())})
        return pd.DataFrame(rows)
    if agent == "final_rl":
        impact_mode, roles = final_impact_mode(p, root), p.rl.train_roles
    elif agent == "rl_baseline":
        impact_mode, roles = "none", ("il_train",)
    else:
        raise ValueError(f"unknown agent {agent!r}; expected one of {LEARNED}")
    return train_ddpg(
        p,
        agent,
        impact_mode,
        roles,
        seeds,
        lambda s: policy_path(p, agent, s, root),
        validation_evaluator(p, root),
        root=root,
        progress=progress,
    )


def _file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes ("" when it does not exist)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def train_ddpg(
    p: Params,
    agent: str,
    impact_mode: str,
    roles: Sequence[str],
    seeds: Sequence[int],
    out_path: Any,
    evaluator: Any,
    *,
    initial_cash: float | None = None,
    fee: float | None = None,
    root: str | Path = ".",
    progress: bool = True,
    **overrides: Any,
) -> pd.DataFrame:
    """Train DDPG for ``seeds`` (stacked) in ``impact_mode`` with episodes in ``roles``; save
    each seed's policy at ``out_path(seed)`` with its curve beside it; one summary row each.
    The run's random stream is named after ``agent`` (:func:`ilsim.ddpg.stream_seed`), so two
    agents of one seed number draw independently."""
    from ilsim import ddpg

    device = resolve_device(p.device)
    r = p.rl
    mdata = market_data(p, tuple(roles), device, root)
    env_over: dict[str, Any] = {"stagger_starts": True}
    if initial_cash is not None:
        env_over["initial_cash"] = initial_cash
    if fee is not None:
        env_over["fee"] = fee
    cfg_env = market_config(p, mdata.bars, impact=impact_mode, **env_over)
    env = market.VectorMarket(mdata, cfg_env, r.n_envs * len(seeds), device)
    cfg = ddpg_config(p, seeds, **{"stream": agent, **overrides})
    # Keyed on the settings, so a rerun with changed params starts afresh instead of refusing
    # the old checkpoint (a rerun with the same ones resumes it exactly).
    # The artifacts the env is built from count too: a refitted pool, network or law is a new
    # world, never a finished checkpoint to resume.
    fixed = {k: v for k, v in asdict(cfg).items() if k not in ddpg.RESUMABLE_CHANGES}
    inputs = [
        _file_digest(artifact(p, name, root))
        for name in ("il_agents.pt", "synthesis.pt", "impact_law.json", "features.parquet")
    ]
    key = hashlib.sha256(
        json.dumps([fixed, asdict(cfg_env), inputs], sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    ckpt = artifact(p, f"checkpoints/{agent}_{key}.pt", root)
    res = ddpg.train(env, cfg, evaluator=evaluator, checkpoint_path=ckpt, progress=progress)
    rows = []
    for k, seed in enumerate(seeds):
        summary = {
            "agent": agent,
            "seed": seed,
            "impact": impact_mode,
            "initial_cash": cfg_env.initial_cash,
            "fee": cfg_env.fee,
            "action_mode": cfg_env.action_mode,
            "reward_window_bars": cfg_env.reward_window_bars,
            "vector_steps": res.vector_steps,
            "env_steps_per_seed": res.vector_steps * r.n_envs,
            "updates": res.updates,
            "stopped_early": res.stopped_early,
            "best_step": res.best_step[k],
            "best_val_score": res.best_score[k],
        }
        out = Path(out_path(seed))
        out.parent.mkdir(parents=True, exist_ok=True)
        ddpg.save_policy(res.actor, out, summary, model=k)
        curve = res.curve[res.curve["model"] == k].drop(columns="wall_s")  # not a result
        curve.to_csv(out.with_suffix(".csv"), index=False)
        rows.append(summary)
    item = f"{agent} cash {cfg_env.initial_cash:g} fee {cfg_env.fee:g} seeds {list(seeds)}"
    timings.record(p.results_dir(root), "train", item, res.wall_s)
    print(f"{agent}: {len(seeds)} seeds trained in {res.wall_s:.0f} s")  # timings stay in logs
    return pd.DataFrame(rows)


def training_summary(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """One row per DDPG policy (agent × seed): its budget (vector steps, env steps, updates),
    whether it stopped on a validation plateau, and the step and score it was selected at."""
    from ilsim import ddpg

    rows = []
    for agent in ("final_rl", "rl_baseline"):
        for seed in p.rl.seeds:
            rows.append(ddpg.load_policy(policy_path(p, agent, seed, root))[1])
    return pd.DataFrame(rows)


def validation_comparison(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Learned policies beside constant positions on the ``validation`` segments (static real
    prices, the backtest's rules): is a constant policy the honest optimum here? One row per
    strategy; ``val_log_growth`` is the mean over segments of log(V_T / V_0), as in selection."""
    from ilsim import ddpg

    score = validation_evaluator(p, root)
    if score is None:
        return pd.DataFrame()
    rows = []
    for agent in ("final_rl", "rl_baseline"):
        loaded = [ddpg.load_policy(policy_path(p, agent, s, root))[0] for s in p.rl.seeds]
        for s, v in zip(p.rl.seeds, score(ddpg.stack_actors(loaded)), strict=True):
            rows.append({"strategy": agent, "seed": s, "val_log_growth": float(v)})
    # Constant exposure c: buy c of the cash at the first decision (it fills at the second
    # close, the execution rule), then hold.
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    close = bars["close"].to_numpy()
    for c in (0.0, 0.25, 0.5, 0.75, 1.0):
        vals = []
        for a, b in regimes.role_ranges(segments, "validation"):
            res = backtest.run_backtest(
                close[a : b + 1],
                np.r_[c, np.zeros(b - a)],  # buy c of the cash at once, then hold
                initial_cash=p.backtest.initial_cash,
                fee=p.backtest.fee,
            )
            vals.append(np.log(res.value[0, -1] / p.backtest.initial_cash))
        rows.append(
            {"strategy": f"constant {c:.0%}", "seed": None, "val_log_growth": np.mean(vals)}
        )
    return pd.DataFrame(rows)


def real_edge(p: Params, root: str | Path = ".") -> Any:
    """The planted market the real features could carry (:func:`ilsim.planted.edge_of_features`):
    a linear forecast of the next bar's return fitted on ``il_train`` bars, judged on the
    ``validation`` bars (or ``sim_train`` when there are none)."""
    from ilsim import planted

    bars = data.load_bars(artifact(p, "bars.parquet", root))
    scaled = pd.read_parquet(artifact(p, "features.parquet", root)).to_numpy(np.float64)
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    nxt = np.r_[bars["close"].to_numpy()[1:] / bars["close"].to_numpy()[:-1] - 1, np.nan]
    same_day = np.r_[bars.index.date[1:] == bars.index.date[:-1], False]

    def rows(role: str) -> tuple[np.ndarray, np.ndarray]:
        m = regimes.role_mask(segments, len(bars), role) & same_day & np.isfinite(nxt)
        return scaled[m], nxt[m]

    test_role = "validation" if (segments["role"] == "validation").any() else "sim_train"
    return planted.edge_of_features(*rows("il_train"), *rows(test_role))


def run(p: Params, root: str | Path = ".") -> StepResult:
    """Step 6's report (the policies themselves are trained by rule ``train_policy``): training
    curves and diagnostics, budgets and selection, the policies beside constant positions on
    validation, and the planted-edge study; writes every output of rule ``train_rl``."""
    from ilsim import ddpg

    r = StepResult()
    curves = []
    for agent in ("final_rl", "rl_baseline"):
        for seed in p.rl.seeds:
            c = pd.read_csv(policy_path(p, agent, seed, root).with_suffix(".csv"))
            curves.append(c.assign(agent=agent, seed=seed))
    curves = pd.concat(curves, ignore_index=True)
    r.values.update(curves=curves, impact_mode=final_impact_mode(p, root))
    r.notes["check"] = (
        f"final RL trained in `{r.values['impact_mode']}` mode; seeds {list(p.rl.seeds)}\n"
        f"{p.rl.n_envs} envs per seed, at most {p.rl.total_steps} vector steps"
    )
    figs, tables = p.figures_dir(root), p.tables_dir(root)
    r.save_figure(plots.plot_training_curves_rl(curves), figs, "fig_rl_training")
    r.save_figure(plots.plot_rl_diagnostics(curves), figs, "fig_rl_diagnostics")
    r.save_figure(plots.plot_action_histograms(curves), figs, "fig_rl_actions")
    fig = plots.plot_action_histograms(curves, prefix="pre_", span=ddpg.PREACT_RANGE)
    r.save_figure(fig, figs, "fig_rl_preact")

    r.write_table(training_summary(p, root), tables, "rl_training", floatfmt=".4g")
    r.write_table(validation_comparison(p, root), tables, "rl_validation", floatfmt=".4g")

    study = planted_study(p, root)
    r.write_table(study, tables, "planted_edge", floatfmt=".3g")
    r.save_figure(plots.plot_planted_edge(study), figs, "fig_planted_edge")

    il = pd.concat(
        [
            pd.read_csv(policy_path(p, "il_baseline", s, root).with_suffix(".csv")).assign(seed=s)
            for s in p.rl.seeds
        ]
    )
    r.tables["il_baseline"] = il.groupby("seed")[["train_mse", "val_mse"]].min()
    return r


def planted_study(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Does the learner learn? The DDPG configuration of the ``rl`` params (the first two seeds,
    ``rl.planted_steps``, selection on held-out planted paths as set below) on planted markets
    with a known optimum: the one-bar reward, the old fill timing, the paper's reward window,
    the fee with a strong edge and with the edge the real features carry (also at
    ``backtest.low_fee``), and plain DDPG on the unscaled reward. One row per case and seed."""
    from functools import partial

    from ilsim import ddpg, planted

    seeds = tuple(p.rl.seeds[:2])
    cfg = ddpg_config(
        p, seeds, total_steps=p.rl.planted_steps, checkpoint_every=10**9, eval_every=250,
        patience=8, min_steps=2000,
    )  # fmt: skip
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    # the paper's window in bars, even when the run's own reward is one bar
    window = minutes_to_bars(p.market.reward_window_minutes, bar_minutes(bars))
    real = real_edge(p, root)
    base = planted.PlantedConfig(n_features=real.n_features)
    fee = p.backtest.fee
    cases = {
        "one-bar reward": base,
        "one-bar reward, filled at the decision's own close (the old backtest timing)": replace(
            base, fill="now"
        ),
        f"paper's window ({window} bars)": replace(base, reward_window_bars=window),
        f"fee {fee:.2%}, strong edge": replace(base, fee=fee, edge_bp=4.0, phi=0.995),
        f"fee {fee:.2%}, edge of the real features": replace(real, fee=fee),
    }
    low = p.backtest.low_fee
    if low is not None:
        cases[f"fee {low * 1e4:g} bp, edge of the real features"] = replace(real, fee=low)
    study = planted.learner_study(partial(ddpg.train, cfg=cfg, progress=False), cases, seeds)
    plain = replace(cfg, reward_scale=1.0, preact_penalty=0.0)  # plain DDPG on the reward
    unscaled = planted.learner_study(
        partial(ddpg.train, cfg=plain, progress=False),
        {"one-bar reward, unscaled (value change / initial value)": base},
        seeds,
    )
    return pd.concat([study, unscaled], ignore_index=True)
