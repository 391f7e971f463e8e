"""The DDPG trainings of step 6 and the premise A/B: the ``rl`` params as a DDPG
configuration, the validation score (logged, early stopping, and the best checkpoint kept
beside the saved one), one policy's training (rule ``train_policy``) and one arm of the
premise A/B (rules ``train_premise_*``). Kept apart from the
figures, tables and claims, so that editing those never retrains a policy (each rule depends
on the code it runs: ``ilsim.deps``)."""

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

from ilsim import backtest, features, imitation, impact, market, regimes, timings
from ilsim.artifacts import (
    LEARNED,
    best_policy_path,
    last_policy_path,
)
from ilsim.market.assemble import market_config, run_market
from ilsim.params import Params, resolve_device, shared
from ilsim.pool import il_datasets, il_train_config
from ilsim.run import Run


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
    run: Run,
    law: impact.ImpactLaw | None = None,
    initial_cash: float | None = None,
    fee: float | None = None,
    role: str = "validation",
):
    """Score K stacked actors on the ``validation`` segments (or those of ``role``): static
    real prices with the backtest's rules (fee, fills at the next close); the score is the mean
    over segments of the log growth of the account (higher is better). ``None`` when no segment
    has that role. ``law``/``initial_cash``: the impact-aware backtest at that portfolio size
    instead; ``fee``: default ``backtest.fee``."""
    from ilsim import ddpg

    p = run.params
    bars = run.bars()
    scaled = run.features().to_numpy(np.float32)
    segments = run.segments()
    ranges = regimes.role_ranges(segments, role)
    if not ranges:
        return None
    close = bars["close"].to_numpy()
    starts = features.session_start_mask(bars.index)
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


def train_policy(run: Run, agent: str, progress: bool = True) -> pd.DataFrame:
    """Train one learned policy for every seed of ``rl.seeds``; save each seed's policy and
    training curve (diagnostics, ``.csv`` beside it). Returns one summary row per seed.

    ``final_rl``: DDPG in the simulator (impact mode from :func:`final_impact_mode`);
    ``rl_baseline``: the same DDPG on static replay of the same segments (``rl.train_roles``:
    issue 25, the two differ only in the world they train in). The seeds
    train together as stacked networks, selected and stopped on the ``validation`` segments.
    ``il_baseline``: one BC agent per seed on the union of the ``il_train`` labels.
    """
    p = run.params
    seeds = list(p.rl.seeds)
    rows = []
    if agent == "il_baseline":
        segments = run.segments()
        scaled = run.features()
        labels = run.labels()
        sets, _ = il_datasets(segments, scaled, labels)
        union = (np.concatenate([x for x, _ in sets]), np.concatenate([y for _, y in sets]))
        for seed in seeds:
            out = run.policy_path(agent, seed)
            res = imitation.train_ensemble([union], il_train_config(p, seed), progress=progress)
            imitation.save_agents(res.model.cpu(), out, {"agent": agent, "seed": seed})
            res.history.rename(columns={"epoch": "step"}).to_csv(
                out.with_suffix(".csv"), index=False
            )
            rows.append({"agent": agent, "seed": seed, "epochs": int(res.history["epoch"].max())})
        return pd.DataFrame(rows)
    if agent == "final_rl":
        impact_mode, roles = run.final_impact(), p.rl.train_roles
    elif agent == "rl_baseline":  # the same segments: the arms differ only in their world
        impact_mode, roles = "none", p.rl.train_roles
    else:
        raise ValueError(f"unknown agent {agent!r}; expected one of {LEARNED}")
    return train_ddpg(
        run,
        agent,
        impact_mode,
        roles,
        seeds,
        lambda s: run.policy_path(agent, s),
        validation_evaluator(run),
        progress=progress,
    )


def _file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes ("" when it does not exist)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _code_digest() -> str:
    """SHA-256 of the sources a training runs (this module's import closure)."""
    from ilsim import deps

    digest = hashlib.sha256()
    for module in sorted(deps.closure({__name__})):  # module names: a stable order anywhere
        digest.update(module.encode() + deps.source_file(module).read_bytes())
    return digest.hexdigest()


def train_ddpg(
    run: Run,
    agent: str,
    impact_mode: str,
    roles: Sequence[str],
    seeds: Sequence[int],
    out_path: Any,
    evaluator: Any,
    *,
    initial_cash: float | None = None,
    fee: float | None = None,
    law: impact.ImpactLaw | None = None,
    selection: str | None = None,
    progress: bool = True,
    **overrides: Any,
) -> pd.DataFrame:
    """Train DDPG for ``seeds`` (stacked) in ``impact_mode`` with episodes in ``roles``; save
    each seed's policy at ``out_path(seed)`` with its curve beside it; one summary row each.
    The run's random stream is named after ``agent`` (:func:`ilsim.ddpg.stream_seed`), so two
    agents of one seed number draw independently (``stream=`` in ``overrides`` names another).
    ``law``: the impact law of modes ``learned`` and ``own`` (default: notebook 05's);
    ``selection``: the saved policy, ``best`` on validation or the ``last`` actor (default
    ``rl.selection``); the other one is saved beside it (:func:`last_policy_path`)."""
    from ilsim import ddpg

    p = run.params
    device = resolve_device(p.device)
    r = p.rl
    selection = r.selection if selection is None else selection
    if selection not in ("best", "last"):
        raise ValueError(f"selection must be 'best' or 'last', got {selection!r}")
    mdata = run_market(run, tuple(roles), device)
    if law is not None:
        mdata.impact_law = law
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
        _file_digest(run.path(name))
        for name in ("il_agents.pt", "synthesis.pt", "impact_law.json", "features.parquet")
    ]
    # the segments, the drift and the law as used: not in the files
    world = [list(roles), p.market.drift, law.to_dict() if law is not None else None]
    # The code too (every source the training runs, ilsim.deps): a changed env or learner is
    # a new training, never a finished checkpoint of the old code to resume; and the
    # checkpoint format, so that one written by another version starts afresh, not refused.
    keyed = [fixed, asdict(cfg_env), inputs, world, ddpg.CHECKPOINT_VERSION, _code_digest()]
    key = hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:12]
    ckpt = run.path(f"checkpoints/{agent}_{key}.pt")
    # With progress, a line per validation in the rule's log (results/<name>/logs/): a
    # long training shows where it is and when it ends.
    log = (lambda line: print(f"{agent}: {line}", flush=True)) if progress else None
    res = ddpg.train(
        env, cfg, evaluator=evaluator, checkpoint_path=ckpt, progress=progress, log=log
    )
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
            "selection": selection,
        }
        out = Path(out_path(seed))
        out.parent.mkdir(parents=True, exist_ok=True)
        # the saved policy, and beside it both candidates (the best on validation and the
        # selection-free last actor): notebook 06 measures the winner's curse between them
        policy = res.last_actor if selection == "last" else res.actor
        ddpg.save_policy(policy, out, summary, model=k)
        last = {**summary, "checkpoint": "last", "step": res.vector_steps}
        ddpg.save_policy(res.last_actor, last_policy_path(out), last, model=k)
        best = {**summary, "checkpoint": "best", "step": res.best_step[k]}
        ddpg.save_policy(res.actor, best_policy_path(out), best, model=k)
        curve = res.curve[res.curve["model"] == k].drop(columns="wall_s")  # not a result
        curve.to_csv(out.with_suffix(".csv"), index=False)
        rows.append(summary)
    item = f"{agent} cash {cfg_env.initial_cash:g} fee {cfg_env.fee:g} seeds {list(seeds)}"
    timings.record(run.results, "train", item, res.wall_s)
    print(f"{agent}: {len(seeds)} seeds trained in {res.wall_s:.0f} s")  # timings stay in logs
    return pd.DataFrame(rows)


def train_premise(
    run: Run,
    arm: str,
    size: float | None = None,
    fee: float | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """One arm of the premise A/B (issue 25) at ``fee`` (default ``backtest.fee``), every seed
    of ``premise.seeds`` stacked, on real replay of the ``rl.train_roles`` segments: arm
    ``impact`` with its own impact through the impact-aware backtest's law at portfolio
    ``size`` (market mode ``own``), arm ``replay`` without it (size-free: trained once, at
    ``backtest.initial_cash``). Both arms draw from one random stream ("premise": the same
    initial weights, env and exploration draws per seed, common random numbers), run the same
    fixed budget (``premise.total_steps``, no early stop) and keep each seed's last actor (no
    selection); the impact-aware validation at the arm's size is logged, never selected on."""
    p = run.params
    pr = p.premise
    fee = p.backtest.fee if fee is None else fee
    law = run.backtest_law()
    if law is None:
        raise ValueError("the premise A/B trades with impact: set backtest.impact: true")
    if arm == "impact":
        if size is None:
            raise ValueError("arm 'impact' of the premise A/B needs a portfolio size")
        mode, cash, score_law = "own", size, law
    elif arm == "replay":
        mode, cash, score_law = "none", p.backtest.initial_cash, None
    else:
        raise ValueError(f"the premise A/B trains arm 'impact' or 'replay', not {arm!r}")
    budget = {"total_steps": pr.total_steps, "min_steps": 0, "patience": 0}
    return train_ddpg(
        run,
        f"premise_{arm}",
        mode,
        p.rl.train_roles,
        pr.seeds,
        lambda s: run.premise_policy_path(arm, s, size, fee),
        validation_evaluator(run, law=score_law, initial_cash=cash, fee=fee),
        initial_cash=cash,
        fee=fee,
        law=law,
        selection="last",
        progress=progress,
        stream="premise",
        eval_every=pr.eval_every,
        checkpoint_every=max(1, pr.total_steps // 4),
        **budget,
    )
