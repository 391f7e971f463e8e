"""Backtest saved policies on any data and period (issue 11): ``ilsim backtest``.

A run reads the artifacts of a finished params run (scaler, impact law, policies) and never
refits or overwrites them: the new bars are imported from one or more files (concatenated and
de-duplicated, so the indicators get their history), the features are computed on all of
them and scaled with the *saved* scaler, and every strategy trades every evaluation segment
with the params' fee and cash. The outputs go under a new name:
``reports/<out>/tables/backtest_metrics.csv`` (one row per strategy × seed × segment, static
and — with the params' ``backtest.impact`` — impact-aware metrics), ``backtest_summary.csv``,
``reports/<out>/backtest.md`` and ``figures/<out>/fig_equity.png``/``fig_positions.png``.

Segments: ``period`` (the sessions from ``start`` to ``end`` as one segment), ``zigzag`` (the
params' zig-zag threshold on the daily closes of the period) or ``extrema`` (the params' listed
extrema, as the pipeline cuts them, limited to the period).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ilsim import artifacts, data, features, metrics, regimes
from ilsim.params import Params
from ilsim.plots.common import STRATEGY_COLORS, save_figure
from ilsim.policies import OtherPolicy, strategy_runs
from ilsim.report import write_table
from ilsim.run import Run

__all__ = [
    "EvaluationError",
    "EvaluationResult",
    "backtest_saved",
    "load_bars_files",
]

SPLITS = ("period", "zigzag", "extrema")


class EvaluationError(ValueError):
    """A backtest request that cannot be served as asked (the message says what to change)."""


def load_bars_files(p: Params, files: Sequence[str | Path]) -> tuple[pd.DataFrame, list[dict]]:
    """Import every file with the params' time zone and session rules, concatenate them in
    time order and drop repeated bars (the first file listed wins). Returns the bars and one
    record per file (rows kept, span, SHA-256)."""
    if not files:
        raise EvaluationError("give at least one data file (--data FILE)")
    frames, info = [], []
    for f in files:
        bars, rep = data.import_bars(
            f,
            tz=p.data.tz,
            source_tz=p.data.source_tz,
            session=p.data.session,
            max_outside_session=p.data.max_outside_session,
        )
        frames.append(bars)
        info.append(
            {
                "file": str(f),
                "bars": len(bars),
                "first": str(bars.index[0]),
                "last": str(bars.index[-1]),
                "sha256": data.file_sha256(f),
                "report": rep.to_markdown(),
            }
        )
    intervals = {str(f): data.bar_minutes(b) for f, b in zip(files, frames, strict=True)}
    if len(set(intervals.values())) > 1:
        raise EvaluationError(
            "the files hold different bar intervals ("
            + ", ".join(f"{k}: {v:g} min" for k, v in intervals.items())
            + "): give files of one interval"
        )
    bars = pd.concat(frames)
    bars = bars[~bars.index.duplicated(keep="first")].sort_index()
    data.validate_bars(bars, " + ".join(str(f) for f in files))
    return bars, info


def _as_date(x: str | dt.date | None) -> dt.date | None:
    return None if x is None else pd.Timestamp(x).date()


def evaluation_segments(
    p: Params,
    bars: pd.DataFrame,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    split: str = "period",
    root: str | Path = ".",
) -> pd.DataFrame:
    """The segments to backtest (:data:`SPLITS`), within the sessions ``start`` … ``end``."""
    if split not in SPLITS:
        raise EvaluationError(f"split must be one of {SPLITS}, got {split!r}")
    days = np.asarray(bars.index.date)
    lo, hi = _as_date(start) or days[0], _as_date(end) or days[-1]
    if lo > hi:
        raise EvaluationError(f"the period starts ({lo}) after it ends ({hi})")
    inside = (days >= lo) & (days <= hi)
    if inside.sum() < 2:
        raise EvaluationError(
            f"the data ({days[0]} … {days[-1]}) hold fewer than 2 bars in {lo} … {hi}"
        )
    if split == "period":
        span = regimes.bar_span(bars, np.flatnonzero(inside))
        row = {
            "segment": 1,
            "start_date": days[span["first_bar"]],
            "end_date": days[span["last_bar"]],
            "kind_from": "start",
            "kind_to": "end",
            "regime": "period",
            "role": "new",
            **span,
        }
        return pd.DataFrame([row], columns=regimes.SEGMENT_COLUMNS)
    if split == "zigzag":
        daily = data.daily_from_intraday(bars.iloc[np.flatnonzero(inside)])["close"]
        extrema = regimes.zigzag(daily, p.segments.zigzag_threshold)
        if len(extrema) < 2:
            raise EvaluationError(
                f"the zig-zag (segments.zigzag_threshold {p.segments.zigzag_threshold:.0%}) "
                f"finds no swing in {lo} … {hi}: use --split period or a longer period"
            )
        segs = regimes.segments_from_extrema(extrema, bars).assign(role="new")
    else:  # the run's own segments (ids, dates, regimes), cut from the new bars
        segs = _run_segments(p, bars, root)
    first = pd.to_datetime(segs["start"]).dt.date
    last = pd.to_datetime(segs["end"]).dt.date
    segs = segs[(first >= lo) & (last <= hi)]
    if segs.empty:
        raise EvaluationError(f"no {split} segment lies inside {lo} … {hi}")
    return segs.reset_index(drop=True)


def _run_segments(p: Params, bars: pd.DataFrame, root: str | Path) -> pd.DataFrame:
    """The finished run's segments (``segments.csv``: ids, extrema dates, regimes, roles) on
    the new bars: each holds the sessions after its first extremum up to its last."""
    path = Run(p, root).results / "segments.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the pipeline for {p.name!r} first")
    trained = regimes.load_segments(path)
    days = np.asarray(bars.index.date)
    rows = []
    for r in trained.itertuples(index=False):
        idx = np.flatnonzero((days > r.start_date) & (days <= r.end_date))
        if len(idx) >= 2:
            rows.append({**r._asdict(), **regimes.bar_span(bars, idx)})
    if not rows:
        raise EvaluationError("none of the run's segments lies inside the data given")
    return pd.DataFrame(rows, columns=trained.columns)


@dataclass
class EvaluationResult:
    """What :func:`backtest_saved` measured and where it wrote it."""

    rows: pd.DataFrame  # one row per strategy × seed × segment
    summary: pd.DataFrame  # per strategy: means over segments and seeds
    segments: pd.DataFrame
    paths: dict = field(repr=False)
    files: list[Path] = field(default_factory=list)


def _sb3_policy(spec: str) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """``ALGO:PATH`` (e.g. ``td3:model.zip``) → a deterministic policy obs [K, D] → [K]."""
    if ":" not in spec:
        raise EvaluationError(f"--sb3 needs ALGO:PATH (e.g. td3:model.zip), got {spec!r}")
    algo, path = spec.split(":", 1)
    import stable_baselines3 as sb3

    cls = getattr(sb3, algo.upper(), None)
    if cls is None:
        raise EvaluationError(f"unknown stable-baselines3 algorithm {algo!r}")
    model = cls.load(path, device="cpu")

    def act(obs: np.ndarray) -> np.ndarray:
        a, _ = model.predict(obs, deterministic=True)
        return np.asarray(a, dtype=np.float64).reshape(len(obs))

    return f"sb3:{Path(path).stem}", act


def backtest_saved(
    p: Params,
    files: Sequence[str | Path],
    *,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    split: str = "period",
    agents: Sequence[str] = artifacts.LEARNED,
    seeds: Sequence[int] | None = None,
    policy_files: Sequence[str | Path] = (),
    sb3: Sequence[str] = (),
    long_only: bool = True,
    out: str | None = None,
    root: str | Path = ".",
) -> EvaluationResult:
    """Backtest saved strategies of the run ``p`` on the bars of ``files`` (see the module
    docstring); writes under ``out`` (default ``<name>-backtest``), never under ``p.name``."""
    run = Run(p, root)
    root = Path(root)
    out = out or f"{p.name}-backtest"
    if out == p.name:
        raise EvaluationError(
            f"--out must differ from the run's own name {p.name!r} (never overwritten)"
        )
    scaler_path = p.results_dir(root) / "scaler.json"  # no folder is made for a wrong name
    if not scaler_path.exists():
        raise FileNotFoundError(
            f"{scaler_path} is missing: run the pipeline for {p.name!r} first (snakemake)"
        )
    bars, info = load_bars_files(p, files)
    run_bars = p.results_dir(root) / "bars.parquet"
    if run_bars.exists():
        trained, given = data.bar_minutes(data.load_bars(run_bars)), data.bar_minutes(bars)
        if trained != given:
            raise EvaluationError(
                f"the run {p.name!r} was trained on {trained:g}-minute bars but the files hold "
                f"{given:g}-minute bars: its scaler, policies and impact law fit the former only"
            )
    f = p.features
    raw = features.compute_features(bars, **features.indicator_kwargs(f))
    scaled = features.MinMaxScaler.load(scaler_path).transform(raw)
    segs = evaluation_segments(p, bars, start, end, split, root)
    warm = features.valid_mask(scaled)
    first_ok = int(np.argmax(warm)) if warm.any() else len(bars)
    if int(segs["first_bar"].min()) < first_ok:
        raise EvaluationError(
            f"the first segment starts at bar {int(segs['first_bar'].min())} but the indicators "
            f"need {first_ok} bars of history: add an earlier file or start later"
        )
    # EMAs start from a simple mean: with little history they differ from a long run's
    settle = 3 * max(*f.ema_periods_bars, f.macd_bars[1] + f.macd_bars[2])
    history = int(segs["first_bar"].min())
    if history < settle:
        warnings.warn(
            f"only {history} bars of history before the first segment (the indicators settle "
            f"after about {settle}): add an earlier file for features as the run computed them",
            stacklevel=2,
        )
    segs = segs.assign(overlaps_training=_training_share(p, segs, root))
    law = run.backtest_law() if p.backtest.impact else None
    starts = features.session_start_mask(bars.index)
    seeds = list(dict.fromkeys(p.rl.seeds if seeds is None else seeds))
    bt = p.backtest
    bpy = metrics.trading_bars_per_year(data.bar_minutes(bars))
    policies: list[OtherPolicy] = []
    from ilsim import ddpg

    for path in policy_files:
        actor, meta = ddpg.load_policy(path)
        policies.append(
            (f"policy:{Path(path).stem}", actor.policy(), 1, meta.get("action_mode", "fraction"))
        )
    for spec in sb3:
        name, fn = _sb3_policy(spec)
        policies.append((name, fn, 1, "fraction"))
    names = [n for n, *_ in policies]
    if len(set(names)) < len(names) or set(names) & set(agents):
        raise EvaluationError(f"two strategies share a name ({names}): rename a policy file")
    rows, paths, by_key = [], {}, {}
    for seg in segs.itertuples(index=False):
        sl = slice(seg.first_bar, seg.last_bar + 1)
        prices = bars["close"].to_numpy()[sl]
        for law_k, tag in ((None, ""), (law, "impact_")):
            if tag and law_k is None:
                continue
            runs = strategy_runs(
                run, sl, scaled, prices, law=law_k, new_session=starts[sl], agents=agents,
                seeds=seeds, others=policies, long_only=long_only,
            )  # fmt: skip
            for name, sr in runs.items():
                res, sds = sr.result, sr.seeds
                per_path = metrics.backtest_rows(
                    res.value, res.traded_notional, res.holdings,
                    initial_value=bt.initial_cash, bars_per_year=bpy,
                )  # fmt: skip
                for i, s in enumerate(sds):
                    key = (seg.segment, name, s)
                    if not tag:
                        rows.append(
                            {
                                "segment": seg.segment,
                                "start": seg.start_date,
                                "end": seg.end_date,
                                "regime": seg.regime,
                                "run_role": seg.role,
                                "overlaps_training": seg.overlaps_training,
                                "strategy": name,
                                "seed": s,
                                **per_path[i],
                            }
                        )
                        by_key[key] = rows[-1]
                        paths[key] = {
                            "value": res.value[i],
                            "holdings": res.holdings[i],
                            "price": prices,
                            "index": bars.index[sl],
                        }
                    else:
                        row = by_key[key]
                        metric = {c: per_path[i][c] for c in metrics.METRIC_NAMES}
                        row.update({f"impact_{c}": v for c, v in metric.items()})
    out_rows = pd.DataFrame(rows)
    keep = ["total_return_pct", "max_drawdown_pct", "sharpe_ratio", "position_change_frac"]
    keep += [c for c in out_rows if c.startswith("impact_") and c[7:] in keep]
    summary = (
        out_rows.groupby("strategy", sort=False)[keep]
        .mean()
        .reset_index()
        .assign(n_rows=out_rows.groupby("strategy", sort=False).size().to_numpy())
    )
    tables = p.model_copy(update={"name": out}).tables_dir(root)
    written = write_table(out_rows, tables, "backtest_metrics", floatfmt=".4g")
    written += write_table(summary, tables, "backtest_summary", floatfmt=".4g")
    figdir = p.model_copy(update={"name": out}).figures_dir(root)
    written += save_figure(_plot_equity(paths, bt.initial_cash, "value"), figdir, "fig_equity")
    written += save_figure(
        _plot_equity(paths, bt.initial_cash, "position"), figdir, "fig_positions"
    )
    report = tables.parent / "backtest.md"
    report.write_text(_report_md(p, out, info, segs, summary, law is not None, split))
    written.append(report)
    return EvaluationResult(out_rows, summary, segs, paths, written)


def _training_share(p: Params, segs: pd.DataFrame, root: str | Path) -> list[float]:
    """Per evaluation segment, the share of its sessions inside a segment the run trained,
    validated or fitted its simulator on (0 for a period the run never saw)."""
    path = Run(p, root).results / "segments.csv"
    if not path.exists():
        return [float("nan")] * len(segs)
    trained = regimes.load_segments(path)
    used = trained[trained["role"] != "backtest"]
    spans = [
        (pd.Timestamp(a), pd.Timestamp(b)) for a, b in zip(used["start"], used["end"], strict=True)
    ]
    out = []
    for r in segs.itertuples(index=False):
        days = pd.date_range(pd.Timestamp(r.start).normalize(), pd.Timestamp(r.end).normalize())
        seen = sum(any(a.normalize() <= d <= b.normalize() for a, b in spans) for d in days)
        out.append(seen / max(1, len(days)))
    return out


def _plot_equity(paths: dict, initial: float, what: str) -> plt.Figure:
    """One panel per segment: each strategy's (and seed's) return since the start, or the
    share of its value held in shares, with the market price for reference."""
    segments = sorted({k[0] for k in paths})
    fig, axes = plt.subplots(len(segments), 1, figsize=(10, 3 * len(segments)), squeeze=False)
    for ax, seg in zip(axes[:, 0], segments, strict=True):
        for (s, name, seed), d in paths.items():
            if s != seg:
                continue
            color = STRATEGY_COLORS.get(name)
            x = np.arange(len(d["value"]))
            if what == "value":
                y = (d["value"] / initial - 1) * 100
            else:
                y = d["holdings"] * d["price"] / np.maximum(d["value"], 1e-12)
            ax.plot(x, y, color=color, lw=1, alpha=0.8, label=f"{name} seed {seed}")
            price = d["price"]
        if what == "value":
            ax.plot(
                x, (price / price[0] - 1) * 100, color="red", ls="--", lw=0.8, label="market price"
            )
            ax.set_ylabel("return since start (%)")
        else:
            ax.set_ylabel("share of value in shares")
            ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"segment {seg}")
        ax.set_xlabel("bar")
        ax.legend(fontsize=6, ncol=4)
    fig.tight_layout()
    return fig


def _report_md(
    p: Params,
    out: str,
    info: list[dict],
    segs: pd.DataFrame,
    summary: pd.DataFrame,
    impact: bool,
    split: str,
) -> str:
    from ilsim.report import markdown_table

    files = "\n".join(
        f"- `{i['file']}`: {i['bars']:,} bars {i['first']} … {i['last']} "
        f"(sha256 {i['sha256'][:12]}…)"
        for i in info
    )
    cols = ["segment", "start_date", "end_date", "regime", "role", "bars", "bh_return_pct"]
    cols.append("overlaps_training")
    return (
        f"# Backtest of saved policies: `{out}`\n\n"
        f"Strategies of the run `{p.name}` (its scaler, policies and impact law, read only), "
        f"fee {p.backtest.fee:.2%}, initial cash {p.backtest.initial_cash:,.0f}, segments by "
        f"`{split}`{'; impact-aware columns `impact_*`' if impact else ''}.\n\n"
        f"## Data\n\n{files}\n\n## Segments\n\n`role`: the segment's role in the run (`new`: "
        "cut from the new data); `overlaps_training`: the share of its days inside a segment "
        "the run trained, validated or fitted its simulator on — results there are not "
        f"out of sample.\n\n{markdown_table(segs[cols], '.4g')}\n\n"
        f"## Summary (means over segments and seeds)\n\n{markdown_table(summary, '.4g')}\n"
        + "".join(f"\n## Import of `{i['file']}`\n\n{_demote(i['report'])}\n" for i in info)
    )


def _demote(md: str) -> str:
    """An import report's headings, one level down, to sit inside this report."""
    return "\n".join("#" + line if line.startswith("#") else line for line in md.splitlines())
