"""DDPG (paper Table 5 networks): (a) solves Pendulum-v1, (b) update and env-step throughput.

    python benchmarks/bench_ddpg.py [--device auto|cpu|cuda] [--skip-pendulum] [--threads K]

(a) trains on Pendulum-v1 (4 envs, 4,000 vector steps = 16,000 env steps, 4 updates per vector
step) and prints the mean return of 10 deterministic evaluation episodes (solved: > -300) and
the time. (b) prints pure DDPG updates/s (batch 128) for K = 1, 5, 10 and 20 models trained as
stacked networks (model-updates/s: K × stacked updates/s) beside the roofline: the update's
FLOPs (counted from the layer sizes) against this machine's measured matmul FLOP/s, i.e. the
model-updates/s the update would reach if it were all large matrix products, and the whole
training loop's env-steps/s on the planted-edge market (K = 1 vs 5 seeds, 16 envs each) and
on the toy :class:`ilsim.ddpg.PointMassEnv` with N = 64 and 1024. No asserts.
"""

from __future__ import annotations

import argparse
import time

import torch

from ilsim import ddpg, planted
from ilsim.params import resolve_device


def pendulum(device: str, seed: int = 0) -> None:
    cfg = ddpg.DDPGConfig(
        total_steps=4_000, learning_starts=250, updates_per_step=4, seeds=(seed,), device=device
    )
    t = time.perf_counter()
    res = ddpg.train(ddpg.GymTensorEnv("Pendulum-v1", 4), cfg, progress=False, log_every=200)
    train_s = time.perf_counter() - t
    returns = ddpg.evaluate(res.actor, ddpg.GymTensorEnv("Pendulum-v1", 10), 10, seed=1000)
    print(
        f"Pendulum-v1: {res.env_steps} env steps, {res.updates} updates in {train_s:.1f} s; "
        f"evaluation over 10 deterministic episodes {returns.mean():.1f} ± {returns.std():.1f} "
        f"({'solved' if returns.mean() > -300 else 'NOT solved'}: threshold -300)"
    )
    # One row per 200 vector steps: each row holds one finished episode of each of the 4 envs.
    print(
        res.curve[["env_steps", "episode_return_mean", "critic_loss", "q_mean"]]
        .round(1)
        .to_string()
    )


def update_rate(device: str, k: int = 1, obs_dim: int = 12, n: int = 300) -> float:
    """Model-updates/s of K stacked models on a fixed batch source (market-sized observations:
    10 features + 2); K = 1 is plain one-model DDPG."""
    cfg = ddpg.DDPGConfig(seeds=tuple(range(k)))
    agent = ddpg.Agent.create(obs_dim, cfg, device)
    buf = ddpg.ReplayBuffer(20_000, obs_dim, k, device)
    m = buf.capacity
    buf.add(
        torch.randn(k, m, obs_dim),
        torch.rand(k, m) * 2 - 1,
        torch.randn(k, m),
        torch.randn(k, m, obs_dim),
        torch.zeros(k, m),
    )
    gen = torch.Generator(device=device).manual_seed(0)
    for _ in range(20):
        ddpg.update(agent, buf.sample(cfg.batch_size, gen), cfg)
    t = time.perf_counter()
    for _ in range(n):
        ddpg.update(agent, buf.sample(cfg.batch_size, gen), cfg)
    return k * n / (time.perf_counter() - t)


def _mlp_flops(sizes: list[int], batch: int) -> int:
    """Multiply-adds × 2 of one forward pass of an MLP with layer ``sizes`` over ``batch`` rows."""
    return 2 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def update_flops(obs_dim: int, cfg: ddpg.DDPGConfig) -> int:
    """FLOPs of one DDPG update of one model (forward ×1, backward ×2 the forward):
    target actor + target critic (forward), critic (forward + backward), actor through the
    critic (forward + backward of both); Adam and soft updates are elementwise and omitted."""
    b = cfg.batch_size
    actor = _mlp_flops([obs_dim, *cfg.actor_hidden, 1], b)
    critic = _mlp_flops([obs_dim + 1, *cfg.critic_hidden, 1], b)
    return (actor + critic) + 3 * critic + 3 * (actor + critic)


def peak_flops(device: str, n: int = 1024, reps: int = 20) -> float:
    """This machine's float32 matmul FLOP/s (an n × n product, best of ``reps``)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(reps):
        if device != "cpu":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def planted_rates(device: str, k: int, n: int = 16, steps: int = 600) -> dict[str, float]:
    """The whole loop (env steps, acting, one update per vector step) on the planted market."""
    cfg = ddpg.DDPGConfig(
        total_steps=steps,
        learning_starts=100,
        checkpoint_every=10**9,
        device=device,
        seeds=tuple(range(k)),
        reward_scale=1e4,
    )
    t = time.perf_counter()
    res = ddpg.train(planted.PlantedEdgeEnv(n * k, device=device), cfg, progress=False)
    s = time.perf_counter() - t
    return {"K": k, "env-steps/s": res.env_steps / s, "model-updates/s": res.updates * k / s}


def toy_rates(n: int, device: str, warmup: int = 100, steps: int = 300) -> dict[str, float]:
    """Env-steps/s during warm-up (no updates) and training (1 update per vector step)."""
    cfg = ddpg.DDPGConfig(
        total_steps=warmup + steps, learning_starts=warmup, checkpoint_every=10**9, device=device
    )
    res = ddpg.train(
        ddpg.PointMassEnv(n, device=device), cfg, progress=False, log_every=warmup // 2
    )
    c = res.curve.set_index("vector_step")
    mid, end = warmup // 2, warmup + steps
    warm_s = c.loc[warmup, "wall_s"] - c.loc[mid, "wall_s"]
    train_s = c.loc[end, "wall_s"] - c.loc[warmup, "wall_s"]
    return {
        "N": n,
        "env-steps/s warm-up": n * (warmup - mid) / warm_s,
        "env-steps/s training": n * steps / train_s,
        "updates/s training": steps * cfg.updates_per_step / train_s,
        "ms/vector step": 1e3 * train_s / steps,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--skip-pendulum", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    if not args.skip_pendulum:
        pendulum(device)
    print("\nDDPG model-updates/s (batch 128, actor 2x128, critic 3x128, obs_dim 12):")
    flops = update_flops(12, ddpg.DDPGConfig())
    peak = peak_flops(device)
    roof = peak / flops
    print(
        f"  roofline: {flops / 1e6:.1f} MFLOP per model-update, matmul peak "
        f"{peak / 1e9:.1f} GFLOP/s -> at most {roof:,.0f} model-updates/s"
    )
    base = update_rate(device, 1)
    for k in (1, 5, 10, 20):
        r = base if k == 1 else update_rate(device, k)
        print(
            f"  K = {k:>2} stacked: {r:>8,.0f}  ({r / base:.1f}x K = 1, "
            f"{100 * r / roof:.0f} % of the roofline)"
        )
    print("\nWhole training loop on the planted-edge market (16 envs per seed):")
    for k in (1, 5):
        r = planted_rates(device, k)
        print(
            f"  K = {k}: {r['env-steps/s']:>8,.0f} env-steps/s, "
            f"{r['model-updates/s']:>7,.0f} model-updates/s"
        )
    rows = [toy_rates(n, device) for n in (64, 1024)]
    cols = list(rows[0])
    print("\nTraining on PointMassEnv (1 update per vector step; warm-up: random actions):")
    print("  ".join(f"{c:>20}" if i else f"{c:>6}" for i, c in enumerate(cols)))
    for r in rows:
        print(
            "  ".join(
                f"{r[c]:>6d}" if c == "N" else f"{r[c]:>20,.{1 if 'ms' in c else 0}f}" for c in cols
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
