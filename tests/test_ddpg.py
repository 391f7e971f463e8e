"""DDPG: replay ring, soft updates, learning, bit-identical resume, NaN guard, Pendulum."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ilsim import ddpg


class ToyEnv(ddpg.PointMassEnv):
    """The point-mass task, plus failure injection after ``after`` steps of this object:
    ``mode="nan"`` NaN rewards, ``"huge"`` rewards of 1e30 (the critic loss overflows),
    ``"crash"`` an exception (a killed process)."""

    def __init__(self, n: int, mode: str | None = None, after: int = 0):
        super().__init__(n)
        self.mode, self.after, self.calls = mode, after, 0

    def step(self, action):
        self.calls += 1
        out = list(super().step(action))
        if self.mode is not None and self.calls > self.after:
            if self.mode == "crash":
                raise RuntimeError("killed")
            out[1] = torch.full_like(out[1], math.nan if self.mode == "nan" else 1e30)
        return tuple(out)


def small_cfg(**kw) -> ddpg.DDPGConfig:
    base = {
        "actor_hidden": (32, 32),
        "critic_hidden": (32, 32, 32),
        "batch_size": 32,
        "learning_starts": 10,
        "total_steps": 80,
        "checkpoint_every": 20,
        "seeds": (3,),
    }
    return ddpg.DDPGConfig(**{**base, **kw})


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def reproducible(curve: pd.DataFrame) -> pd.DataFrame:
    return curve.drop(columns="wall_s")


# -- pieces ----------------------------------------------------------------------------------
def transitions(lo: int, hi: int) -> tuple[torch.Tensor, ...]:
    i = torch.arange(lo, hi, dtype=torch.float32)
    return i[:, None], -i, i * 10, i[:, None] + 0.5, (i % 2)


def test_replay_ring_matches_naive_and_samples_aligned_rows():
    buf, naive = ddpg.ReplayBuffer(5, 1), [0] * 5  # unfilled rows are zeros
    pos = 0
    for lo, hi in [(0, 3), (3, 7), (7, 19), (19, 20)]:  # partial, wrap, more than capacity
        buf.add(*transitions(lo, hi))
        for i in range(lo, hi):
            naive[pos] = i
            pos = (pos + 1) % 5
        assert buf.pos == pos and buf.obs[0, :, 0].tolist() == [float(v) for v in naive]
    assert len(buf) == 5 and buf.obs[0, :, 0].tolist() == [15, 16, 17, 18, 19]
    b = buf.sample(256, torch.Generator().manual_seed(0))
    o = b.obs[0, :, 0]
    assert set(o.tolist()) == {15.0, 16.0, 17.0, 18.0, 19.0}
    assert torch.equal(b.actions[0], -o) and torch.equal(b.rewards[0], o * 10)
    assert torch.equal(b.next_obs, b.obs + 0.5) and torch.equal(b.dones[0], o % 2)
    again = buf.sample(256, torch.Generator().manual_seed(0))
    assert torch.equal(again.obs, b.obs)

    part = ddpg.ReplayBuffer(10, 1)
    part.add(*transitions(0, 4))  # only filled rows are ever drawn
    assert part.sample(200, torch.Generator().manual_seed(1)).obs.max() == 3


def test_replay_keeps_agents_apart():
    buf = ddpg.ReplayBuffer(6, 1, k=2)
    i = torch.arange(4, dtype=torch.float32)
    obs = torch.stack([i, i + 100])[..., None]  # agent 1's rows are 100 higher
    buf.add(obs, -obs[..., 0], obs[..., 0], obs + 0.5, torch.zeros(2, 4))
    b = buf.sample(64, torch.Generator().manual_seed(0))
    assert b.obs.shape == (2, 64, 1) and b.obs[0].max() < 4 and b.obs[1].min() >= 100
    assert torch.equal(b.actions, -b.obs[..., 0])


def test_replay_state_roundtrip_and_resize_keeps_time_order():
    buf = ddpg.ReplayBuffer(5, 1)
    buf.add(*transitions(0, 7))  # full, pos 2
    same = ddpg.ReplayBuffer(5, 1)
    same.load_state_dict(buf.state_dict())
    assert (same.pos, same.size) == (2, 5) and torch.equal(same.obs, buf.obs)
    bigger = ddpg.ReplayBuffer(8, 1)
    bigger.load_state_dict(buf.state_dict())
    assert bigger.obs[0, :5, 0].tolist() == [2, 3, 4, 5, 6] and (bigger.pos, bigger.size) == (5, 5)
    bigger.add(*transitions(7, 8))
    assert bigger.obs[0, 5, 0] == 7
    smaller = ddpg.ReplayBuffer(3, 1)
    smaller.load_state_dict(buf.state_dict())
    assert smaller.obs[0, :, 0].tolist() == [4, 5, 6] and (smaller.pos, smaller.size) == (0, 3)


def test_soft_update_math():
    torch.manual_seed(0)
    src, tgt = ddpg.Critic(3, (4, 4), (0,)), ddpg.Critic(3, (4, 4), (1,))
    before = [p.clone() for p in tgt.parameters()]
    ddpg.soft_update(tgt, src, 0.005)
    for t, s, b in zip(tgt.parameters(), src.parameters(), before, strict=True):
        assert torch.allclose(t, 0.005 * s + 0.995 * b, atol=1e-7)
    ddpg.soft_update(tgt, src, 1.0)
    assert same_weights(tgt, src)


def test_actor_output_in_bounds_and_act_noise():
    actor = ddpg.Actor(4)
    assert [w.shape[-1] for w in actor.net.weights] == [128, 128, 1]
    obs = torch.randn(500, 4) * 1e3
    out = actor(obs[None])
    assert out.shape == (1, 500) and out.abs().max() <= 1.0
    a = ddpg.act(actor, obs, noise_std=0.5, generator=torch.Generator().manual_seed(0))
    assert a.shape == (500,) and a.abs().max() <= 1.0 and not torch.equal(a, out[0])
    assert torch.equal(ddpg.act(actor, obs), out[0].detach())
    critic = ddpg.Critic(4)
    assert len(critic.net.weights) == 4
    assert critic(obs[None], out).shape == (1, 500)


def test_stacked_models_equal_the_models_alone():
    """Model k of a stack has seed k's weights and, trained in the stack, follows exactly the
    updates it would get alone (the losses are sums, Adam is elementwise)."""
    both = ddpg.Agent.create(3, ddpg.DDPGConfig(seeds=(5, 6), actor_hidden=(8,)), "cpu")
    alone = ddpg.Agent.create(3, ddpg.DDPGConfig(seeds=(6,), actor_hidden=(8,)), "cpu")
    assert same_weights(both.actor.select(1), alone.actor)
    gen = torch.Generator().manual_seed(0)
    obs, nxt = torch.randn(2, 32, 3, generator=gen), torch.randn(2, 32, 3, generator=gen)
    acts, rew = torch.rand(2, 32, generator=gen) * 2 - 1, torch.randn(2, 32, generator=gen)
    batch = ddpg.Batch(obs, acts, rew, nxt, torch.zeros(2, 32))
    cfg = ddpg.DDPGConfig(seeds=(5, 6))
    for _ in range(3):
        ddpg.update(both, batch, cfg)
        ddpg.update(alone, ddpg.Batch(*(x[1:] for x in batch)), cfg)
    for a, b in zip(both.actor.parameters(), alone.actor.parameters(), strict=True):
        torch.testing.assert_close(a[1:], b, rtol=1e-5, atol=1e-6)
    stacked = ddpg.stack_actors([alone.actor, both.actor], [0, 0])
    assert stacked.seeds == (6, 5) and same_weights(stacked.select(0), alone.actor)


def test_policy_save_load(tmp_path):
    actor = ddpg.Actor(5, (16, 8), seeds=(1, 2))
    with torch.no_grad():
        actor.obs_mean.fill_(0.5)  # the scaling travels with the policy
    ddpg.save_policy(actor, tmp_path / "p.pt", {"seed": 2, "impact": "paper"}, model=1)
    back, meta = ddpg.load_policy(tmp_path / "p.pt")
    obs = torch.randn(7, 5)
    assert meta == {"seed": 2, "impact": "paper"} and back.seeds == (2,)
    assert torch.equal(back(obs[None])[0], actor(obs[None].expand(2, -1, -1))[1])
    assert back.obs_mean.eq(0.5).all()


# -- training --------------------------------------------------------------------------------
def test_learns_the_toy_task():
    env = ddpg.PointMassEnv(16)
    cfg = ddpg.DDPGConfig(total_steps=300, learning_starts=50, checkpoint_every=10**9)
    res = ddpg.train(env, cfg, progress=False, log_every=50)
    assert list(res.curve.columns) == ddpg.CURVE_COLUMNS and len(res.curve) == 6
    assert res.updates == 250 and res.env_steps == 300 * 16 and res.completed
    random_ret = res.curve["episode_return_mean"].iloc[0]  # warm-up: uniform random actions
    learned = ddpg.evaluate(res.actor, ddpg.PointMassEnv(16), 32, seed=1)
    assert random_ret < 10 and learned.mean() > 17 > random_ret + 5
    assert res.curve["critic_loss"].iloc[1:].notna().all()


def test_seeded_runs_are_identical_and_seed_matters():
    a = ddpg.train(ToyEnv(4), small_cfg(), progress=False, log_every=10)
    b = ddpg.train(ToyEnv(4), small_cfg(), progress=False, log_every=10)
    c = ddpg.train(ToyEnv(4), small_cfg(seeds=(4,)), progress=False, log_every=10)
    assert same_weights(a.actor, b.actor) and same_weights(a.critic, b.critic)
    pd.testing.assert_frame_equal(reproducible(a.curve), reproducible(b.curve))
    assert not same_weights(a.actor, c.actor)


def test_resume_is_bit_identical(tmp_path):
    cfg = small_cfg()
    full = ddpg.train(
        ToyEnv(4), cfg, checkpoint_path=tmp_path / "a.pt", progress=False, log_every=10
    )
    part = ddpg.train(
        ToyEnv(4),
        cfg,
        checkpoint_path=tmp_path / "b.pt",
        progress=False,
        log_every=10,
        stop_after=45,  # between log rows: the log window is saved too
    )
    assert not part.completed and part.vector_steps == 45
    torch.manual_seed(123)  # a "new process": other global RNG state, fresh objects
    rest = ddpg.train(
        ToyEnv(4), cfg, checkpoint_path=tmp_path / "b.pt", progress=False, log_every=10
    )
    assert rest.completed and rest.updates == full.updates
    assert same_weights(full.actor, rest.actor) and same_weights(full.critic, rest.critic)
    pd.testing.assert_frame_equal(reproducible(full.curve), reproducible(rest.curve))
    a, b = ddpg.load_checkpoint(tmp_path / "a.pt"), ddpg.load_checkpoint(tmp_path / "b.pt")
    assert torch.equal(a["buffer"]["obs"], b["buffer"]["obs"]) and a["step"] == b["step"] == 80
    # a finished checkpoint returns at once; a longer total_steps continues it
    again = ddpg.train(ToyEnv(4), cfg, checkpoint_path=tmp_path / "a.pt", progress=False)
    assert same_weights(again.actor, full.actor) and again.vector_steps == 80
    more = ddpg.train(
        ToyEnv(4),
        small_cfg(total_steps=100),
        checkpoint_path=tmp_path / "a.pt",
        progress=False,
        log_every=10,
    )
    assert more.vector_steps == 100 and len(more.curve) == 10


def test_resume_after_a_crash_between_checkpoints(tmp_path):
    cfg = small_cfg()
    full = ddpg.train(ToyEnv(4), cfg, progress=False, log_every=10)
    with pytest.raises(RuntimeError, match="killed"):
        ddpg.train(
            ToyEnv(4, "crash", after=55),
            cfg,
            checkpoint_path=tmp_path / "c.pt",
            progress=False,
            log_every=10,
        )
    assert ddpg.load_checkpoint(tmp_path / "c.pt")["step"] == 40
    rest = ddpg.train(
        ToyEnv(4), cfg, checkpoint_path=tmp_path / "c.pt", progress=False, log_every=10
    )
    assert same_weights(full.actor, rest.actor)
    pd.testing.assert_frame_equal(reproducible(full.curve), reproducible(rest.curve))


def test_resume_refuses_another_config(tmp_path):
    ddpg.train(
        ToyEnv(4), small_cfg(), checkpoint_path=tmp_path / "x.pt", progress=False, stop_after=20
    )
    with pytest.raises(ValueError, match="gamma"):
        ddpg.train(
            ToyEnv(4), small_cfg(gamma=0.9), checkpoint_path=tmp_path / "x.pt", progress=False
        )
    fresh = ddpg.train(
        ToyEnv(4),
        small_cfg(gamma=0.9),
        checkpoint_path=tmp_path / "x.pt",
        resume=False,
        progress=False,
        stop_after=20,
    )
    assert fresh.vector_steps == 20


def test_nan_reward_stops_and_keeps_the_checkpoint(tmp_path):
    path = tmp_path / "n.pt"
    with pytest.raises(FloatingPointError, match=r"vector step 43: .*non-finite reward.*step 40"):
        ddpg.train(ToyEnv(4, "nan", after=42), small_cfg(), checkpoint_path=path, progress=False)
    ck = ddpg.load_checkpoint(path)
    assert ck["step"] == 40 and torch.isfinite(ck["buffer"]["rewards"]).all()
    assert all(torch.isfinite(v).all() for v in ck["agent"]["actor"].values())
    rest = ddpg.train(ToyEnv(4), small_cfg(), checkpoint_path=path, progress=False)
    assert rest.completed  # the kept checkpoint resumes once the env is fixed


def test_non_finite_loss_stops_with_its_name(tmp_path):
    path = tmp_path / "l.pt"
    with pytest.raises(FloatingPointError, match=r"vector step \d+: non-finite critic_loss"):
        ddpg.train(ToyEnv(4, "huge", after=40), small_cfg(), checkpoint_path=path, progress=False)
    ck = ddpg.load_checkpoint(path)
    assert ck["step"] == 40 and ck["buffer"]["rewards"].abs().max() < 10
    with pytest.raises(FloatingPointError, match="no checkpoint was written"):
        ddpg.train(ToyEnv(4, "huge", after=12), small_cfg(), progress=False)


# -- gymnasium adapter -----------------------------------------------------------------------
def test_gym_adapter_scales_actions_and_fills_final_obs(tmp_path):
    env = ddpg.GymTensorEnv("Pendulum-v1", n_envs=2, seed=0)
    assert (env.n, env.obs_dim) == (2, 3)
    obs = env.reset()
    assert obs.shape == (2, 3) and obs.dtype == torch.float32
    env.step(torch.tensor([1.0, -0.5]))  # [-1, 1] -> the Box [-2, 2]
    assert [e.unwrapped.last_u for e in env.vec.envs] == pytest.approx([2.0, -1.0])
    for t in range(1, 200):
        obs, r, term, trunc, info = env.step(torch.tensor([1.0, -1.0]))
        assert r.shape == (2,) and (("final_obs" in info) == (t == 199))
    assert trunc.all() and not term.any() and info["final_obs"].shape == (2, 3)
    assert not torch.equal(info["final_obs"], obs)  # last obs of the old episode, not the new
    with pytest.raises(ValueError, match="checkpoint"):
        ddpg.train(env, small_cfg(), checkpoint_path=tmp_path / "g.pt", progress=False)
    env.close()


@pytest.mark.slow
def test_solves_pendulum():
    """DDPG with the paper's networks solves Pendulum-v1 (8k env steps; ~20-25 s on 2 cores)."""
    cfg = ddpg.DDPGConfig(total_steps=2_000, learning_starts=250, updates_per_step=4)
    res = ddpg.train(ddpg.GymTensorEnv("Pendulum-v1", 4), cfg, progress=False)
    returns = ddpg.evaluate(res.actor, ddpg.GymTensorEnv("Pendulum-v1", 10), 10, seed=1000)
    assert len(returns) == 10 and np.mean(returns) > -300


def test_stacked_selection_and_early_stop_resume_bit_identical(tmp_path):
    """K = 2 seeds with an evaluator, observation scaling, TD3 options and plateau stopping:
    a run stopped and resumed equals one that never stopped, best actors and all."""

    def score(actor):  # deterministic: a function of the weights only
        obs = torch.linspace(-1, 1, 8)[None, :, None].expand(actor.k, -1, -1)
        return (-(actor(obs) ** 2).mean(1)).tolist()

    cfg = small_cfg(
        seeds=(3, 4),
        total_steps=120,
        obs_norm=True,
        policy_delay=2,
        target_noise=0.2,
        eval_every=10,
        patience=3,
        min_steps=40,
    )

    def run(**kw):  # a fresh env each time: a "new process"
        return ddpg.train(ToyEnv(4), cfg, evaluator=score, progress=False, log_every=10, **kw)

    full = run()
    part = run(checkpoint_path=tmp_path / "k.pt", stop_after=35)
    rest = run(checkpoint_path=tmp_path / "k.pt")
    assert not part.completed and rest.completed
    assert same_weights(full.actor, rest.actor) and full.best_step == rest.best_step
    pd.testing.assert_frame_equal(reproducible(full.curve), reproducible(rest.curve))
    assert set(full.curve["seed"]) == {3, 4} and full.curve["val_score"].notna().any()
    assert full.stopped_early and 40 <= full.vector_steps < 120  # stopped on a plateau
    assert not torch.equal(full.actor.obs_std, torch.ones_like(full.actor.obs_std))


def test_progress_lines_one_per_validation_and_the_result_unchanged():
    """Issue 26: with ``log``, a line per validation (step, each seed's score, updates/s, ETA);
    the training itself is the same bit for bit."""

    def score(actor):
        obs = torch.linspace(-1, 1, 8)[None, :, None].expand(actor.k, -1, -1)
        return (-(actor(obs) ** 2).mean(1)).tolist()

    cfg = small_cfg(seeds=(3, 4), total_steps=60, eval_every=10)
    lines: list[str] = []
    quiet = ddpg.train(ToyEnv(4), cfg, evaluator=score, progress=False)
    told = ddpg.train(ToyEnv(4), cfg, evaluator=score, progress=False, log=lines.append)
    assert same_weights(quiet.actor, told.actor)
    evals = [s for s in range(1, 61) if s >= cfg.learning_starts and s % 10 == 0]
    assert len(lines) == len(evals) and lines[0].startswith(f"DDPG step {evals[0]}/60: ")
    for line in lines:
        assert "validation " in line and "updates/s" in line and "ETA" in line
        assert len(line.split("validation ")[1].split(" (best")[0].split()) == 2  # two seeds


def test_a_named_stream_changes_every_draw_and_reproduces():
    """Issue 15: two runs of one seed number in different streams share no draws — not the
    initial weights, and not the env reset, warm-up actions, noise or replay samples (all
    seeded from the run's stream seed); the same stream reproduces exactly."""

    class Recording(ToyEnv):
        seeds: list = []

        def reset(self, seed=None):
            Recording.seeds.append(seed)
            return super().reset(seed)

    a = ddpg.train(Recording(4), small_cfg(stream="final_rl"), progress=False, log_every=10)
    b = ddpg.train(Recording(4), small_cfg(stream="final_rl"), progress=False, log_every=10)
    c = ddpg.train(Recording(4), small_cfg(stream="rl_baseline"), progress=False, log_every=10)
    assert same_weights(a.actor, b.actor) and not same_weights(a.actor, c.actor)
    pd.testing.assert_frame_equal(reproducible(a.curve), reproducible(b.curve))
    s = Recording.seeds
    assert (
        s[0]
        == s[1]
        == ddpg.stream_seed(3, "final_rl")
        != s[2]
        == ddpg.stream_seed(3, "rl_baseline")
    )


def test_ddpg_imports_nothing_above_it():
    """Issue 27: the algorithm depends on no env front end and no pipeline params — only on
    its own modules and the shared torch parts (``ilsim.nn``)."""
    from ilsim import deps

    graph = deps.import_graph()
    mine = [m for m in graph if m == "ilsim.ddpg" or m.startswith("ilsim.ddpg.")]
    assert len(mine) >= 9
    for module in mine:
        outside = {m for m in graph[module] if not m.startswith("ilsim.ddpg")}
        assert outside <= {"ilsim.nn"}, (module, outside)
