"""Env-steps per second of the vectorised market (IL + synthesis inference and online features
included) at N = 1, 64, 1024, 4096, against a naive per-environment Python loop.

    python benchmarks/bench_market.py [params/paper.yaml]   # after snakemake has built results/

Target: at least 300,000 env-steps/s at N = 4096 on 2 CPU cores in the params' impact mode
(issue 10; the IL ensemble is most of a step, so its rate alone is printed too), at least
50,000 at N >= 1024; memory for 4096 envs < 1 GB. Timings on a shared machine vary: the
N = 4096 summary is the median of several runs.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time

import torch

from ilsim import market
from ilsim.market.assemble import market_config, run_market
from ilsim.params import load_params, resolve_device
from ilsim.run import Run


def rate(m: market.VectorMarket, steps: int) -> float:
    m.reset(seed=0)
    a = torch.rand(steps, m.n, generator=torch.Generator().manual_seed(0)) * 2 - 1
    m.step(a[0])  # warm-up
    t = time.perf_counter()
    for k in range(1, steps):
        m.step(a[k])
    return m.n * (steps - 1) / (time.perf_counter() - t)


TARGET_4096 = 300_000  # env-steps/s at N = 4096 on 2 CPU cores (issue 10)


def ensemble_rate(m: market.VectorMarket, calls: int = 20) -> float:
    """States per second of the IL pool alone (``data.il_policy``) on the market's own scaled
    features, as the simulator calls it once per step."""
    states = m.data.scaler.transform_tensor(m.features.features)
    m.data.il_policy(states)  # warm-up
    t = time.perf_counter()
    for _ in range(calls):
        m.data.il_policy(states)
    return m.n * calls / (time.perf_counter() - t)


def naive_rate(data: market.MarketData, cfg: market.MarketConfig, n: int, steps: int) -> float:
    """The same simulator written the slow way: one environment object per env, stepped in a
    Python loop."""
    envs = [market.VectorMarket(data, cfg, 1) for _ in range(n)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    t = time.perf_counter()
    for _ in range(steps):
        for e in envs:
            e.step(torch.rand(1) * 2 - 1)
    return n * steps / (time.perf_counter() - t)


def state_bytes(m: market.VectorMarket) -> int:
    """Bytes of every per-environment tensor of the market and its online features."""
    seen = 0
    for obj in (m, m.features):
        for v in vars(obj).values():
            if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == m.n:
                seen += v.element_size() * v.nelement()
    return seen


def main() -> int:
    params = load_params(sys.argv[1] if len(sys.argv) > 1 else "params/default.yaml")
    device = resolve_device(params.device)
    data = run_market(Run(params), "sim_train", device)
    cfg = market_config(params, data.bars, impact="paper")
    print(
        f"params {params.name}, device {device}, torch threads {torch.get_num_threads()}, "
        f"{data.il_policy.__self__.n_models} IL agents"
    )
    print(f"{'N':>6} {'vectorised steps/s':>20} {'naive loop steps/s':>20} {'ratio':>8}")
    for n in (1, 64, 1024, 4096):
        m = market.VectorMarket(data, cfg, n, device)
        fast = rate(m, 200 if n >= 1024 else 400)
        slow = naive_rate(data, cfg, min(n, 64), 20) if n <= 1024 else float("nan")
        ratio = fast / slow if slow == slow else float("nan")
        print(f"{n:>6} {fast:>20,.0f} {slow:>20,.0f} {ratio:>8.0f}")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m = market.VectorMarket(data, cfg, 4096, device)
    rate(m, 50)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"4096 envs: per-env state {state_bytes(m) / 2**20:.1f} MiB; "
        f"peak RSS {rss1:.0f} MiB (+{max(0.0, rss1 - rss0):.0f} MiB for the 4096-env market)"
    )
    print("naive loop: the same VectorMarket with N=1, one object per env, at most 64 objects")

    mode = params.market.impact
    m = market.VectorMarket(data, market_config(params, data.bars, impact=mode), 4096, device)
    m.reset(seed=0)
    runs = 5
    ens = statistics.median(ensemble_rate(m) for _ in range(runs))
    step = statistics.median(rate(m, 200) for _ in range(runs))
    verdict = "met" if step >= TARGET_4096 else "NOT met"
    print(f"N = 4096, median of {runs} runs, target {TARGET_4096:,} env-steps/s on 2 CPU cores:")
    print(f"  IL ensemble alone       {ens:>12,.0f} states/s")
    print(f"  step, impact {mode!r:<10} {step:>12,.0f} env-steps/s  (target {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
