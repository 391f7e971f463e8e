"""Import, features and scaling of the whole real 5-minute file (target: under 10 s on 2 cores).

    python benchmarks/bench_data_features.py     # reads ILSIM_DATA, else ../shared/data

Prints the time of each stage (best of three) and the total.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch


def best_of(fn, n: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> int:
    default = Path(__file__).resolve().parents[2] / "shared/data/qqq_5min_2020-10_2024-12.parquet"
    path = Path(os.environ.get("ILSIM_DATA", default))
    if not path.exists():
        print(f"data file not found: {path} (set ILSIM_DATA)", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    from ilsim import data, features  # import time is part of the figure

    t_import_modules = time.perf_counter() - t0
    t_import, (bars, _) = best_of(lambda: data.import_bars(path))
    t_feat, raw = best_of(lambda: features.compute_features(bars))
    mask = features.valid_mask(raw)
    t_scale, _ = best_of(lambda: features.MinMaxScaler().fit(raw, mask=mask).transform(raw))
    total = t_import_modules + t_import + t_feat + t_scale
    print(f"torch threads: {torch.get_num_threads()}, rows: {len(bars):,}")
    print(f"{'stage':<28}{'seconds':>10}")
    for name, t in [
        ("import ilsim modules", t_import_modules),
        ("import + validate file", t_import),
        ("features (pandas-ta-classic)", t_feat),
        ("min-max fit + transform", t_scale),
        ("total", total),
    ]:
        print(f"{name:<28}{t:>10.3f}")
    print(f"target < 10 s: {'met' if total < 10 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
