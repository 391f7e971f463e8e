"""The pipeline's steps as functions: each reads params and files, writes its artifacts.

The notebooks call these (one notebook, one step), and so does Snakemake through the notebooks.
Every step writes under ``results/<name>/`` (intermediate), ``reports/<name>/`` (tables,
reports) and ``figures/<name>/``; later steps read those files rather than recompute.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ilsim import (
    backtest,
    data,
    experts,
    features,
    imitation,
    impact,
    market,
    metrics,
    realism,
    regimes,
    synthesis,
    synthetic,
    timings,
)
from ilsim.params import MarketBars, Params, minutes_to_bars, resolve_device
from ilsim.report import beside_paper, paper_table, write_table


@dataclass
class Market:
    """Canonical bars plus how they were made."""

    bars: pd.DataFrame
    import_report: str
    extrema: list[dict]


def artifact(p: Params, name: str, root: str | Path = ".") -> Path:
    """Path of an intermediate artifact, with its folder created."""
    path = p.results_dir(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _synthetic_report(p: Params, bars: pd.DataFrame) -> str:
    days = len(np.unique(bars.index.date))
    return (
        "# Data import report\n\n"
        f"- source: synthetic generator (`ilsim.synthetic`, seed {p.seed})\n"
        f"- bars: {len(bars):,} at {p.synthetic.bar_minutes}-minute intervals over {days} days\n"
        f"- span: {bars.index[0]} … {bars.index[-1]}\n"
        "- repairs: none needed (generated bars satisfy every invariant; checked by "
        "`ilsim.data.validate_bars`)\n"
    )


def prepare_market(p: Params, root: str | Path = ".") -> Market:
    """Import the data file (or generate the default market) and write the canonical bars."""
    if p.data.source == "file":
        assert p.data.path is not None
        bars, rep = data.import_bars(
            p.data.path,
            tz=p.data.tz,
            source_tz=p.data.source_tz,
            session=p.data.session,
            max_outside_session=p.data.max_outside_session,
        )
        report_md = rep.to_markdown()
        extrema = [{"date": e.date, "kind": e.kind} for e in p.segments.extrema]
    else:
        bars, extrema = synthetic.generate_bars(p.synthetic, seed=p.seed)
        data.validate_bars(bars, "synthetic")
        report_md = _synthetic_report(p, bars)
        if p.segments.method == "extrema":
            extrema = [{"date": e.date, "kind": e.kind} for e in p.segments.extrema]
    data.save_bars(bars, artifact(p, "bars.parquet", root))
    artifact(p, "extrema.json", root).write_text(
        json.dumps([{"date": str(e["date"]), "kind": e["kind"]} for e in extrema], indent=1)
    )
    out = p.reports_dir(root) / "data_import.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report_md)
    return Market(bars, report_md, extrema)


def load_extrema(p: Params, root: str | Path = ".") -> list[dict]:
    """The extrema written by :func:`prepare_market`."""
    raw = json.loads(artifact(p, "extrema.json", root).read_text())
    return [{"date": pd.Timestamp(e["date"]).date(), "kind": e["kind"]} for e in raw]


def daily_close(
    p: Params, bars: pd.DataFrame, extrema: list[dict] | None = None, margin_days: int = 30
) -> pd.Series:
    """Daily closes for the overview: the optional daily file before the intraday span, then
    daily closes aggregated from the bars; clipped to the extrema's span plus a margin."""
    out = data.daily_from_intraday(bars)["close"]
    path = p.data.daily_path
    if path and Path(path).exists():
        early = data.load_daily_csv(path)["close"]
        out = pd.concat([early[early.index < out.index[0]], out])
    if extrema:
        lo = pd.Timestamp(extrema[0]["date"]) - pd.Timedelta(days=margin_days)
        hi = pd.Timestamp(extrema[-1]["date"]) + pd.Timedelta(days=margin_days)
        days = pd.to_datetime(pd.Index(out.index))
        out = out[(days >= lo) & (days <= hi)]
    return out


def segment_market(p: Params, market: Market, root: str | Path = ".") -> pd.DataFrame:
    """Segments with regimes and roles; written to results and to the report tables."""
    s = p.segments
    if s.method == "zigzag":
        extrema = regimes.zigzag(data.daily_from_intraday(market.bars)["close"], s.zigzag_threshold)
    else:
        extrema = market.extrema
    segs = regimes.segments_from_extrema(extrema, market.bars, first_date=s.first_date)
    segs, sparse = regimes.drop_sparse(segs, s.min_coverage)
    _report_coverage(p, segs, sparse, root)
    segs = regimes.with_roles(segs, s.rule, s.roles, dropped=sparse["segment"].tolist())
    check_segments(p, segs, bar_minutes(market.bars))
    print(roles_text(p, segs))
    regimes.save_segments(segs, artifact(p, "segments.csv", root))
    cols = ["segment", "start_date", "end_date", "regime", "role", "bars", "bh_return_pct"]
    table = segs[[*cols, "sessions", "coverage"]].rename(
        columns={"start_date": "start", "end_date": "end"}
    )
    write_table(table, p.tables_dir(root), "segments", floatfmt=".2f")
    return segs


COVERAGE_HEADING = "## Segment coverage"


def _report_coverage(
    p: Params, kept: pd.DataFrame, dropped: pd.DataFrame, root: str | Path = "."
) -> str:
    """State the coverage rule and the dropped segments in ``data_import.md`` (replacing an
    earlier statement) and print it; returns the section."""
    rule = (
        f"A segment is kept when the data hold at least {p.segments.min_coverage:.0%} of its "
        "sessions (`segments.min_coverage`; its sessions are the weekdays after its first "
        "extremum day up to its last, or every day for data that trade on weekends, so "
        "holidays count as missing)."
    )
    if len(dropped):
        lines = "".join(
            f"- segment {r.segment} ({r.regime}, {r.start_date} … {r.end_date}): "
            f"{r.sessions} of {r.expected_sessions} sessions ({r.coverage:.0%})\n"
            for r in dropped.itertuples(index=False)
        )
        what = f"{len(kept)} kept; {len(dropped)} dropped:\n\n{lines}"
    else:
        what = (
            f"All {len(kept)} segments inside the data are kept (lowest coverage "
            f"{kept['coverage'].min():.0%}).\n"
        )
    section = f"{COVERAGE_HEADING}\n\n{rule} {what}"
    path = p.reports_dir(root) / "data_import.md"
    before = path.read_text().split(f"\n{COVERAGE_HEADING}")[0] if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(before.rstrip("\n") + "\n\n" + section)
    print(section)
    return section


def roles_text(p: Params, segments: pd.DataFrame) -> str:
    """How the segments' roles were made, from what was run: the rule's words when the roles
    are the rule's (with the params' note ``segments.rule_text``), else which segments the
    listed roles give another role than the rule would."""
    by_rule = regimes.assign_roles(segments, p.segments.rule)
    used = segments["role"].tolist()
    rule = regimes.describe_rule(p.segments.rule)
    text = p.segments.rule_text.strip()
    note = f" Note (segments.rule_text): {text}" if text else ""
    if p.segments.roles is None:
        return f"Roles by the rule: {rule}{note}"
    if used == by_rule:
        return f"Roles listed in segments.roles; they are the rule's: {rule}{note}"
    differ = [
        f"{seg} ({a}, rule: {b})"
        for seg, a, b in zip(segments["segment"], used, by_rule, strict=True)
        if a != b
    ]
    return (
        "Roles listed in segments.roles, not those of segments.rule; they differ at segments "
        + ", ".join(differ)
        + "."
    )


NEEDED_ROLES = {
    "il_train": "the feature scaler and the IL agents (notebooks 02-03)",
    "sim_train": "the synthesis network and the impact law (notebook 05)",
    "backtest": "the backtests (notebook 07)",
}


def check_segments(p: Params, segments: pd.DataFrame, bar_min: float) -> None:
    """Fail before any work is spent when the segments cannot feed every step: a role a step
    needs is missing, the bear case study has no bear backtest, no episode fits in the
    segments episodes start in, or ``il.eval_segment`` names no unseen segment. Each message
    names the cause and the params key to change."""
    roles = segments["role"]
    counts = roles.value_counts().to_dict()
    where = (
        f"the {len(segments)} segments (ids {', '.join(str(i) for i in segments['segment'])}) "
        f"have roles {counts}"
    )
    # The rule hands the bull and bear segments out in date order, in this order of roles.
    before = {"il_train": [], "sim_train": ["n_il_train", "n_validation"]}
    before["backtest"] = [*before["sim_train"], "n_sim_train"]
    for role, used_by in NEEDED_ROLES.items():
        if (roles == role).any():
            continue
        if p.segments.roles is not None:
            how = "list it in segments.roles"
        elif before[role]:
            how = (
                f"lower segments.rule.{' or '.join(before[role])} (the rule gives the bull and "
                "bear segments in date order to il_train, validation, sim_train and then the "
                "backtests), or list every role in segments.roles"
            )
        else:
            how = "list every role in segments.roles"
        raise ValueError(
            f"no {role} segment, which {used_by} need: {where}. Give a segment the role "
            f"{role}: {how}; or bring data covering more segments"
        )
    train = roles.isin(p.rl.train_roles)
    if not train.any():
        raise ValueError(
            f"no segment has a role in rl.train_roles {list(p.rl.train_roles)} for the RL "
            f"episodes to start in: {where}. Change rl.train_roles or the roles"
        )
    backtests = segments[roles == "backtest"]
    if not (backtests["regime"] == "bear").any():
        raise ValueError(
            "no bear backtest segment: the bear case study (Figure 5) would show another "
            f"regime. The backtests are segments {backtests['segment'].tolist()} "
            f"({', '.join(backtests['regime'])}). Give a bear segment the role backtest: "
            + (
                "in segments.roles"
                if p.segments.roles is not None
                else "raise segments.rule.n_backtest (or list the roles in segments.roles)"
            )
        )
    # Episodes start in sim_train (notebook 05), rl.train_roles (final_rl) and il_train
    # (rl_baseline) and need one bar more than they last; the realism windows lie in backtests.
    episode = p.market.in_bars(bar_min).episode
    needs = (
        ("sim_train", roles == "sim_train", episode + 1),
        ("il_train", roles == "il_train", episode + 1),
        (f"rl.train_roles {list(p.rl.train_roles)}", train, episode + 1),
        ("backtest", roles == "backtest", episode),
    )
    for name, mask, need in needs:
        longest = int(segments.loc[mask, "bars"].max())
        if longest < need:
            raise ValueError(
                f"no {name} segment is long enough for an episode of market.episode_minutes "
                f"{p.market.episode_minutes:g} = {episode} bars of {bar_min:g} minutes (it needs "
                f"{need} bars; the longest has {longest}): lower market.episode_minutes to at "
                f"most {(longest - need + episode) * bar_min:g}"
            )
    il_eval_segment(p, segments)


def role_search(p: Params, market: Market, root: str | Path = ".") -> tuple[pd.DataFrame, ...]:
    """Which segments did the paper backtest? (issue 9, item 7.) Long-only's return on a
    segment depends on the data alone, so the paper's long-only averages by regime (Table 2)
    and its case studies pin its backtest set down far better than a rule.

    Returns (and writes as tables ``segment_long_only`` and ``role_search``) every segment's
    long-only return — on the bars where they cover it (exact), else on the daily file bought
    at the next session's open (the nearest stand-in for the first 5-minute close) — and the
    backtest sets whose regime means best match the paper's, all sideways segments included as
    the SPEC's rule has it, ranked by their largest miss (pp)."""
    fee = p.backtest.fee
    exact = regimes.segment_long_only_returns(market.extrema, market.bars, fee=fee)
    daily = data.daily_from_intraday(market.bars)
    if p.data.daily_path and Path(p.data.daily_path).exists():
        early = data.load_daily_csv(p.data.daily_path)
        daily = pd.concat([early[early.index < daily.index[0]], daily])
    approx = regimes.segment_long_only_returns(market.extrema, daily, fee=fee, buy="first_open")
    table = exact[["segment", "start_date", "end_date", "regime"]].copy()
    covered = exact["covered"].to_numpy(bool)
    table["source"] = np.where(covered, "bars", "daily (next open)")
    for col in ("long_only_pct", "max_drawdown_pct"):
        table[col] = np.where(covered, exact[col], approx[col])
    paper = paper_table("table2_regimes")
    targets = (
        paper[paper["strategy"] == "long_only"].set_index("regime")["avg_total_return_pct"]
    ).to_dict()
    n_side = int((table["regime"] == "sideways").sum())
    cases = paper_table("case_studies")
    cases = cases[cases["strategy"] == "long_only"].set_index("regime")["total_return_pct"]
    search = regimes.search_backtest_roles(
        table,
        targets,
        n_backtest=p.segments.rule.n_backtest,
        sizes={"sideways": n_side} if 0 < n_side <= p.segments.rule.n_backtest else None,
        cases=cases.to_dict(),
        case_tol=np.inf,  # report the nearest case segments, do not require them
    )
    write_table(table, p.tables_dir(root), "segment_long_only", floatfmt=".2f")
    write_table(search, p.tables_dir(root), "role_search", floatfmt=".3g")
    return table, search


def build_features(
    p: Params, bars: pd.DataFrame, segments: pd.DataFrame, root: str | Path = "."
) -> tuple[pd.DataFrame, pd.DataFrame, features.MinMaxScaler]:
    """Raw features of every bar, the scaler fitted on ``il_train`` bars only, scaled features."""
    f = p.features
    raw = features.compute_features(
        bars, ema_periods=f.ema_periods_bars, macd=f.macd_bars, relvol_window=f.relvol_window_bars
    )
    fit_mask = regimes.role_mask(segments, len(bars), "il_train") & features.valid_mask(raw)
    if not fit_mask.any():
        raise ValueError("no il_train bars with complete features to fit the scaler on")
    scaler = features.MinMaxScaler().fit(raw, mask=fit_mask)
    scaled = scaler.transform(raw)
    raw.to_parquet(artifact(p, "features_raw.parquet", root))
    scaled.to_parquet(artifact(p, "features.parquet", root))
    scaler.save(artifact(p, "scaler.json", root))
    return raw, scaled, scaler


# -- imitation-learning pool (notebooks 03-04) --------------------------------------------------


def bar_minutes(bars: pd.DataFrame) -> float:
    """The bar interval in minutes (the most common spacing inside a session)."""
    diffs = pd.Series(bars.index[:5000]).diff().dt.total_seconds().to_numpy() / 60.0
    diffs = diffs[(diffs > 0) & (diffs < 60 * 6)]
    return float(pd.Series(diffs).mode().iloc[0])


def bar_of_day(index: pd.DatetimeIndex) -> np.ndarray:
    """Position of every bar in its session (0 = first bar of the day)."""
    ids = data.session_ids(index)
    return pd.Series(np.ones(len(ids))).groupby(ids).cumsum().to_numpy().astype(np.int64) - 1


def segment_labels(p: Params, bars: pd.DataFrame, segments: pd.DataFrame) -> pd.Series:
    """Expert labels (−1, 0, +1) of every bar inside a segment, each segment labelled alone;
    NaN outside segments."""
    seg_id = regimes.bar_segment_ids(segments, len(bars))
    inside = seg_id >= 0
    lab = np.full(len(bars), np.nan)
    lab[inside] = experts.expert_labels(
        bars["close"].to_numpy()[inside], p.experts.theta, segment_ids=seg_id[inside]
    )
    check_labels(p, bars, segments, lab)
    return pd.Series(lab, index=bars.index, name="label")


def largest_move(close: np.ndarray) -> float:
    """The largest later rise or fall from any bar, as a fraction of its close (the largest θ
    for which some bar gets a buy or sell label)."""
    c = np.asarray(close, dtype=np.float64)
    if len(c) < 2:
        return 0.0
    later_max = np.maximum.accumulate(c[::-1])[::-1][1:]
    later_min = np.minimum.accumulate(c[::-1])[::-1][1:]
    return float(max((later_max / c[:-1] - 1).max(), (1 - later_min / c[:-1]).max()))


def check_labels(p: Params, bars: pd.DataFrame, segments: pd.DataFrame, labels) -> None:
    """Fail when every ``il_train`` bar is labelled hold: the agents would learn one constant
    action. The message gives the largest move θ would have to stay below."""
    lab = np.asarray(labels, dtype=np.float64)
    mask = regimes.role_mask(segments, len(bars), "il_train")
    if not mask.any() or (lab[mask] != 0).any():
        return
    close = bars["close"].to_numpy()
    moves = {
        int(s.segment): largest_move(close[s.first_bar : s.last_bar + 1])
        for s in segments[segments["role"] == "il_train"].itertuples(index=False)
    }
    best = max(moves.values())
    raise ValueError(
        f"every il_train bar is labelled hold: within its segment no close later rises or falls "
        f"by experts.theta = {p.experts.theta:.1%} (the largest move inside an il_train segment "
        f"is {best:.1%}, segment {max(moves, key=moves.get)}), so the IL agents would learn "
        f"nothing but hold. Set experts.theta below {best:.1%} (e.g. {best / 2:.1%}), or give "
        "segments with larger moves the role il_train"
    )


def label_mix(segments: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Share of buy / hold / sell labels per segment."""
    seg_id = regimes.bar_segment_ids(segments, len(labels))
    lab = labels.to_numpy()
    rows = []
    for s in segments.itertuples(index=False):
        x = lab[seg_id == s.segment]
        rows.append(
            {
                "segment": s.segment,
                "regime": s.regime,
                "role": s.role,
                "bars": len(x),
                "buy": float((x == 1).mean()),
                "hold": float((x == 0).mean()),
                "sell": float((x == -1).mean()),
            }
        )
    return pd.DataFrame(rows)


def il_train_config(p: Params, seed: int) -> imitation.TrainConfig:
    """The ``il`` params as a training configuration (the pool and the IL baseline)."""
    c = p.il
    return imitation.TrainConfig(
        hidden=c.hidden,
        lr=c.lr,
        batch_size=c.batch_size,
        max_epochs=c.max_epochs,
        patience=c.patience,
        val_fraction=c.val_fraction,
        seed=seed,
        device=resolve_device(p.device),
    )


def il_datasets(
    segments: pd.DataFrame, scaled: pd.DataFrame, labels: pd.Series
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[int]]:
    """(X, y) of every ``il_train`` segment (bars with complete features), and their ids."""
    x_all, y_all = scaled.to_numpy(np.float32), labels.to_numpy()
    ok = features.valid_mask(scaled)
    out, ids = [], []
    for s in segments[segments["role"] == "il_train"].itertuples(index=False):
        rows = np.arange(s.first_bar, s.last_bar + 1)
        rows = rows[ok[rows]]
        out.append((x_all[rows], y_all[rows].astype(np.float32)))
        ids.append(int(s.segment))
    return out, ids


def train_il_pool(
    p: Params,
    segments: pd.DataFrame,
    scaled: pd.DataFrame,
    labels: pd.Series,
    root: str | Path = ".",
    progress: bool = True,
) -> tuple[imitation.TrainResult, pd.DataFrame]:
    """Train one agent per ``il_train`` segment; save the checkpoint, curves and fit table."""
    datasets, ids = il_datasets(segments, scaled, labels)
    c = p.il
    if c.method != "bc":
        return _train_method_pool(p, segments, scaled, ids, root)
    cfg = il_train_config(p, p.seed)
    result = imitation.train_ensemble(datasets, cfg, progress=progress)
    imitation.save_agents(
        result.model.cpu(),
        artifact(p, "il_agents.pt", root),
        {"segments": ids, "features": list(scaled.columns)},
    )
    result.history.to_csv(artifact(p, "il_history.csv", root), index=False)
    regime = segments.set_index("segment")["regime"]
    rows = []
    for i, ((x, y), seg) in enumerate(zip(datasets, ids, strict=True)):
        tr, va = imitation.split_train_val(len(y), c.val_fraction)
        with torch.no_grad():
            every = result.model.act(torch.as_tensor(x))[:, i].numpy()
        pred = every[va]
        q = imitation.fit_quality(pred, y[va], c.hold_band)
        rows.append(
            {
                "agent": f"IL{i + 1}",
                "segment": seg,
                "regime": regime[seg],
                "train_bars": len(tr),
                "val_bars": len(va),
                "best_epoch": result.best_epoch[i],
                "val_mse": q["mse"],
                "val_accuracy": q["accuracy"],
                "val_majority_rate": q["majority_rate"],
                "one_class": one_class_note(
                    imitation.action_classes(every, c.hold_band), y.astype(int)
                ),
            }
        )
    fit = pd.DataFrame(rows)
    write_table(fit, p.tables_dir(root), "il_fit", floatfmt=".3g")
    check_pool(fit)
    return result, fit


ACTION_NAMES = {-1: "sell", 0: "hold", 1: "buy"}


def one_class_note(predicted: np.ndarray, labels: np.ndarray) -> str:
    """Which one action class an agent never leaves on its own segment's bars, and whether it
    is its labels' majority class; the empty string when its classes vary."""
    cls = np.unique(np.asarray(predicted).astype(int))
    if len(cls) != 1:
        return ""
    name = ACTION_NAMES[int(cls[0])]
    values, counts = np.unique(np.asarray(labels).astype(int), return_counts=True)
    if len(values) == 1:
        return f"only {name}; its labels are all {ACTION_NAMES[int(values[0])]}"
    major = ACTION_NAMES[int(values[counts.argmax()])]
    return f"only {name}, its majority class" if name == major else f"only {name}"


def check_pool(fit: pd.DataFrame) -> None:
    """Say which IL agents never leave one action class on their own segment (column
    ``one_class`` of the fit table: often their labels' majority class, the segment's
    "style"); fail when every agent is stuck in the same class, so that the pool hands the
    simulator one constant behaviour and nothing to mix."""
    if "one_class" not in fit:
        return
    notes = fit["one_class"].fillna("").astype(str)
    stuck = fit[notes != ""]
    if stuck.empty:
        return
    which = "; ".join(f"{r.agent} (segment {r.segment}): {r.one_class}" for r in stuck.itertuples())
    fix = (
        "lower experts.theta for more buy and sell labels (tables/il_labels), train longer "
        "(il.max_epochs, il.patience), or narrow il.hold_band"
    )
    classes = set(notes.str.extract(r"^only (\w+)")[0])
    if len(stuck) == len(fit) and len(classes) == 1:
        raise ValueError(
            f"every IL agent predicts {classes.pop()} on every bar of its segment ({which}): the "
            f"pool gives the simulator one constant behaviour and nothing to mix. To change it: "
            f"{fix}"
        )
    print(
        f"Warning: {len(stuck)} of {len(fit)} IL agents never leave one action class on their "
        f"segment ({which}); to change it: {fix}"
    )


def il_eval_segment(p: Params, segments: pd.DataFrame) -> pd.Series:
    """The unseen segment the agents trade in notebook 04 (rule: ``il.eval_segment``)."""
    rule = p.il.eval_segment
    if isinstance(rule, int):
        found = segments[segments["segment"] == rule]
    else:
        role = "backtest" if rule == "first_backtest" else "sim_train"
        found = segments[segments["role"] == role]
    if found.empty or (found["role"] == "il_train").any():
        raise ValueError(
            f"il.eval_segment {rule!r}: no such segment that the IL agents did not train on "
            f"(segments {segments['segment'].tolist()}, roles {segments['role'].tolist()}): "
            "set il.eval_segment to first_backtest, first_sim_train or such a segment's id"
        )
    return found.iloc[0]


def il_trade(
    p: Params,
    bars: pd.DataFrame,
    scaled: pd.DataFrame,
    segment: pd.Series,
    model: imitation.EnsembleMLP,
) -> tuple[np.ndarray, backtest.BacktestResult, pd.DataFrame]:
    """The agents as traders on one segment: actions [T, M], the backtest, and metrics."""
    a, b = int(segment["first_bar"]), int(segment["last_bar"])
    x = scaled.iloc[a : b + 1].to_numpy(np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"segment {segment['segment']} has bars without complete features")
    actions = model.act(torch.from_numpy(np.ascontiguousarray(x))).numpy().astype(np.float64)
    prices = bars["close"].to_numpy()[a : b + 1]
    res = backtest.run_backtest(
        prices,
        actions.T,
        initial_cash=p.backtest.initial_cash,
        fee=p.backtest.fee,
        mode="units",
        unit=p.il.order_unit_shares,
    )
    table = metrics.metrics_table(
        res.value,
        res.traded_notional,
        names=[f"IL{i + 1}" for i in range(actions.shape[1])],
        initial_value=p.backtest.initial_cash,
        bars_per_year=metrics.trading_bars_per_year(bar_minutes(bars)),
    )
    return actions, res, table.reset_index().rename(columns={"strategy": "policy"})


def il_paper_tables(
    p: Params, table: pd.DataFrame, root: str | Path = "."
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 3 and 4 of the paper with ours beside them (written as CSV and Markdown).

    Table 4 prints drawdowns as positive magnitudes and volatility in percent; ours are
    converted to those conventions for the comparison (see :mod:`ilsim.metrics`).
    """
    ours = table.copy()
    ours["max_drawdown_pct"] = ours["max_drawdown_pct"].abs()
    t3 = beside_paper(
        ours,
        paper_table("table3_il_general"),
        "policy",
        ["final_value", "total_return_pct", "turnover"],
    )
    t4 = beside_paper(
        ours,
        paper_table("table4_il_risk"),
        "policy",
        ["max_drawdown_pct", "volatility_pct", "sharpe_ratio"],
    )
    write_table(t3, p.tables_dir(root), "table3_il_general", floatfmt=".6g")
    write_table(t4, p.tables_dir(root), "table4_il_risk", floatfmt=".6g")
    return t3, t4


ALIKE_CORRELATION = 0.9  # two agents whose actions correlate above this act as one


def il_diversity(actions: np.ndarray, table: pd.DataFrame, hold_band: float) -> dict[str, float]:
    """Numbers that say how diverse the agents are as traders."""
    corr = imitation.action_correlation(actions).to_numpy()
    off = corr[~np.eye(len(corr), dtype=bool)]
    summary = imitation.diversity_summary(actions, hold_band)
    finite = off[np.isfinite(off)]
    return {
        "turnover_min": float(table["turnover"].min()),
        "turnover_max": float(table["turnover"].max()),
        # passive: holds on at least the share of bars that makes a policy degenerate
        "passive_share": metrics.DEGENERATE_THRESHOLD,
        "passive_agents": int((summary["hold_share"] >= metrics.DEGENERATE_THRESHOLD).sum()),
        "pairs": len(off) // 2,
        "alike_above": ALIKE_CORRELATION,
        "pairs_alike": int((finite > ALIKE_CORRELATION).sum()) // 2,
        "mean_abs_correlation": float(np.nanmean(np.abs(off)))
        if np.isfinite(off).any()
        else np.nan,
        "max_correlation": float(np.nanmax(off)) if np.isfinite(off).any() else np.nan,
        "min_correlation": float(np.nanmin(off)) if np.isfinite(off).any() else np.nan,
        "return_min_pct": float(table["total_return_pct"].min()),
        "return_max_pct": float(table["total_return_pct"].max()),
    }


# -- the simulator (notebook 05) ----------------------------------------------------------------


def il_actions(model: imitation.EnsembleMLP, scaled: pd.DataFrame) -> np.ndarray:
    """Every agent's action at every bar [T, M] (0 where a bar's features are incomplete)."""
    x = np.nan_to_num(scaled.to_numpy(np.float32), nan=0.0)
    acts = model.act(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    acts[~features.valid_mask(scaled)] = 0.0
    return acts


def _pairs(bars: pd.DataFrame, segments: pd.DataFrame, role: str):
    """One-step pairs (row t, return t→t+1, segment id) inside the segments of one role,
    within sessions (:func:`ilsim.synthesis.one_step_targets`)."""
    seg = regimes.bar_segment_ids(segments, len(bars))
    keep = segments.loc[segments["role"] == role, "segment"].to_numpy()
    seg = np.where(np.isin(seg, keep), seg, -1)
    return synthesis.one_step_targets(bars["close"].to_numpy(), seg, data.session_ids(bars.index))


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
    rows, rets, sids = _pairs(bars, segments, "sim_train")
    rows, rets, sids = rows[ok[rows]], rets[ok[rows]], sids[ok[rows]]
    s = p.synthesis
    result = synthesis.train_synthesis(
        acts[rows],
        rets,
        segment_ids=sids,
        hidden=s.hidden,
        n_weights=s.n_weights,
        lr=s.lr,
        batch_size=s.batch_size,
        max_epochs=s.max_epochs,
        patience=s.patience,
        val_fraction=s.val_fraction,
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
    brow, brets, _ = _pairs(bars, segments, "backtest")
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
    acts = il_actions(load_pool(p, root=root), scaled)
    result, quality, meta = fit_synthesis(p, bars, scaled, segments, acts, progress)
    synthesis.save_synthesis(
        result.model, result.residuals, artifact(p, "synthesis.pt", root), meta
    )
    result.history.to_csv(artifact(p, "synthesis_history.csv", root), index=False)
    write_table(quality, p.tables_dir(root), "synthesis_quality", floatfmt=".4g")
    return result, quality


def market_bars(p: Params, bars: pd.DataFrame) -> MarketBars:
    """The ``market`` durations (minutes in the params) as bars of the data's interval."""
    return p.market.in_bars(bar_minutes(bars))


def market_config(
    p: Params, bars: pd.DataFrame, impact: str | None = None, **overrides: Any
) -> market.MarketConfig:
    """The simulator's settings from params (``impact`` and others may be overridden); the
    durations in minutes (episode, noise block, reward window) become bars of the bars'
    interval (:func:`market_bars`)."""
    m = p.market
    n = market_bars(p, bars)
    cfg = market.MarketConfig(
        impact=impact or m.impact,
        episode_bars=n.episode,
        reward_window_bars=n.reward_window,
        action_mode=m.action_mode,
        initial_cash=p.backtest.initial_cash,
        fee=p.backtest.fee,
        impact_coef=m.impact_coef,
        noise=m.noise,
        noise_block=n.noise_block,
        il_volume_unit=m.il_volume_unit,
        max_return=m.max_return,
        volatility=m.volatility,
    )
    return replace(cfg, **overrides)  # an unknown name raises TypeError


def assemble_market(
    p: Params,
    bars: pd.DataFrame,
    segments: pd.DataFrame,
    scaler: features.MinMaxScaler,
    il_policy: Any,
    net: synthesis.SynthesisNet,
    residuals: np.ndarray,
    meta: dict,
    role: str | tuple[str, ...] = "sim_train",
) -> market.MarketData:
    """The simulator's ingredients; episodes start in the segments of ``role``."""
    starts = regimes.role_ranges(segments, role)
    if not starts:
        raise ValueError(f"no segments with role {role!r} to start episodes in")
    f = p.features
    return market.MarketData(
        bars=bars,
        scaler=scaler,
        il_policy=il_policy,
        synthesis=lambda a: net(a)[0],
        residuals=residuals - residuals.mean(),  # zero-mean noise: the network carries the drift
        residual_volume=np.asarray(meta["residual_volume"]),
        residual_bar_of_day=np.asarray(meta["residual_bar_of_day"]),
        residual_scale=(
            None if meta.get("residual_scale") is None else np.asarray(meta["residual_scale"])
        ),
        synthesis_vol=lambda a: net.vol.scale(a),
        start_ranges=starts,
        feature_kwargs={
            "ema_periods": f.ema_periods_bars,
            "macd": f.macd_bars,
            "relvol_window": f.relvol_window_bars,
        },
        sigma_bar=float(meta["sigma_bar"]),
        volume_bar=float(meta["volume_bar"]),
    )


def market_data(
    p: Params,
    role: str | tuple[str, ...] = "sim_train",
    device: str = "cpu",
    root: str | Path = ".",
) -> market.MarketData:
    """Everything the simulator needs, loaded from the pipeline's artifacts; episodes start in
    the segments of ``role``."""
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    scaler = features.MinMaxScaler.load(artifact(p, "scaler.json", root))
    net, residuals, meta = synthesis.load_synthesis(artifact(p, "synthesis.pt", root), device)
    pool = load_pool(p, device, root)
    out = assemble_market(p, bars, segments, scaler, pool.act, net, residuals, meta, role)
    out.impact_law, out.pool_mean_action = load_impact(p, root)
    return out


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
    ranges = regimes.role_ranges(segments, "sim_train")
    if not ranges:
        raise ValueError("no sim_train segment to fit the impact law on")
    rows = np.concatenate([np.arange(a, b + 1) for a, b in ranges])
    sim_bars = bars.iloc[rows]
    law = impact.fit_impact_law(sim_bars, seed=p.seed)
    placebo = impact.fit_impact_law(
        sim_bars, flow=impact.placebo_flow(sim_bars, p.seed), seed=p.seed
    )
    path = artifact(p, "impact_law.json", root)
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
    mdata = market_data(p, "sim_train", device, root)
    steps = n_steps or market_bars(p, mdata.bars).episode - 1
    cfg = market_config(p, mdata.bars, impact="paper", episode_bars=steps + 1)
    m = market.VectorMarket(mdata, cfg, p.market.n_paths, device)
    m.reset(p.seed)
    total = 0.0
    for _ in range(steps):
        _, _, _, _, info = m.step(torch.zeros(m.n))
        total += float(info["il_actions"].double().sum(1).mean())
    return total / steps


def load_impact(p: Params, root: str | Path = ".") -> tuple[impact.ImpactLaw | None, float]:
    """Notebook 05's impact law and the pool's mean net action (``None, 0`` before it ran)."""
    path = artifact(p, "impact_law.json", root)
    if not path.exists():
        return None, 0.0
    d = json.loads(path.read_text())
    pool_mean = float(d.pop("pool_mean_action", 0.0))
    return impact.ImpactLaw.from_dict(d), pool_mean


def backtest_impact_law(p: Params, root: str | Path = ".") -> impact.ImpactLaw | None:
    """The law of the impact-aware backtest (``backtest.impact``; ``backtest.impact_coef``
    replaces the fitted coefficient), or ``None`` when the params turn it off."""
    if not p.backtest.impact:
        return None
    law, _ = load_impact(p, root)
    if law is None:
        raise FileNotFoundError(
            f"{artifact(p, 'impact_law.json', root)} is missing: run notebook 05 "
            "(snakemake builds it) or set backtest.impact: false"
        )
    if p.backtest.impact_coef is not None:
        law = replace(law, coef=p.backtest.impact_coef)
    return law


def new_sessions(index: pd.DatetimeIndex) -> np.ndarray:
    """True at each session's first bar."""
    day = pd.Series(pd.DatetimeIndex(index).date)
    return (day != day.shift()).to_numpy()


def _mean_ci_bp(x: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``x`` in bp with a normal 95 % interval."""
    x = np.asarray(x, dtype=np.float64) * 1e4
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def _drift(
    p: Params, mdata: market.MarketData, mode: str, device: str = "cpu"
) -> tuple[float, float, float]:
    """Mean log return per bar (bp) of simulated paths with no RL orders, with a 95 %
    interval across paths (each path's mean is one observation)."""
    steps = market_bars(p, mdata.bars).episode - 1
    cfg = market_config(p, mdata.bars, impact=mode, episode_bars=steps + 1)
    m = market.VectorMarket(mdata, cfg, p.market.n_paths, device)
    path = market.rollout(m, torch.zeros(steps, m.n), p.seed)
    per_path = np.diff(np.log(path["price"]), axis=1).mean(1)
    return _mean_ci_bp(per_path)


IMPACT_PROBE_MODES = tuple(x for x in market.IMPACT_MODES if x != "none")


def impact_checks(
    p: Params, mdata: market.MarketData, device: str = "cpu", root: str | Path = "."
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 05: every impact mode's response to buys of ``market.impact_volume_fractions``
    of daily volume, traced over one session, and the checks against the empirical laws
    (:func:`ilsim.impact.response_checks`); the law's own curve is a row set of its own.
    Writes the tables ``impact_curves`` and ``impact_checks``."""
    law = mdata.impact_law
    bars_per_day = int(pd.Series(mdata.bars.index.date).value_counts().max())
    if law is not None:
        vday, sigma = law.volume_day, law.sigma_day
    else:
        days = mdata.bars.index.date
        vday = float(mdata.bars["volume"].groupby(days).sum().median())
        sigma = float(np.log(mdata.bars["close"].groupby(days).last()).diff().std())
    m = p.market
    horizon = max(1, bars_per_day - 2)  # from the bar after the open to the session's close
    modes = [x for x in IMPACT_PROBE_MODES if x != "learned" or law is not None]
    curves = [
        market.order_response(
            mdata,
            market_config(p, mdata.bars, impact=mode),
            m.impact_volume_fractions,
            m.n_paths,
            horizon,
            vday,
            seed=p.seed,
            device=device,
        )
        for mode in modes
    ]
    curves = pd.concat(curves, ignore_index=True)
    checks = impact.response_checks(curves, sigma, seed=p.seed)
    # The drift of paths with no RL orders: the pool's own flow must not trend the price.
    drift = {mode: _drift(p, mdata, mode, device) for mode in modes}
    ranges = [(a, b) for a, b in mdata.start_ranges]
    logc = np.log(mdata.bars["close"].to_numpy())
    same = np.r_[False, mdata.bars.index.date[1:] == mdata.bars.index.date[:-1]]
    real = np.concatenate([np.diff(logc[a : b + 1])[same[a + 1 : b + 1]] for a, b in ranges])
    drift["real (episode starts)"] = _mean_ci_bp(real)
    extra = pd.DataFrame(
        [
            {"impact": k, "drift_bp": v[0], "drift_ci_low": v[1], "drift_ci_high": v[2]}
            for k, v in drift.items()
        ]
    )
    order = [*checks["impact"], *[k for k in drift if k not in set(checks["impact"])]]
    checks = checks.merge(extra, on="impact", how="outer").set_index("impact").loc[order]
    checks = checks.reset_index()
    if law is not None:
        lag = np.arange(horizon + 1)
        law_rows = [
            {
                "impact": "fitted law",
                "volume_fraction": q,
                "lag": int(h),
                "response_bp": float(v),
                "se": 0.0,
                "ci_low": float(v),
                "ci_high": float(v),
                "n_paths": 0,
            }
            for q in m.impact_volume_fractions
            for h, v in zip(lag, impact.law_response(law, q, horizon), strict=True)
        ]
        curves = pd.concat([curves, pd.DataFrame(law_rows)], ignore_index=True)
    write_table(curves, p.tables_dir(root), "impact_curves", floatfmt=".4g")
    write_table(checks, p.tables_dir(root), "impact_checks", floatfmt=".4g")
    return curves, checks


def load_pool(p: Params, device: str = "cpu", root: str | Path = ".") -> Any:
    """The IL agent pool notebook 03 trained: an ``EnsembleMLP`` (``il.method`` "bc") or a
    :class:`LearnerPool`; either's ``.act`` maps states [N, F] to actions [N, M]."""
    path = artifact(p, "il_agents.pt", root)
    ck = torch.load(path, map_location=device, weights_only=False)
    if "pool" in ck:
        return ck["pool"]
    return imitation.load_agents(path, device)[0]


def _train_method_pool(
    p: Params, segments: pd.DataFrame, scaled: pd.DataFrame, ids: list[int], root: str | Path
) -> tuple[None, pd.DataFrame]:
    """``il.method`` other than "bc": one learner of that method per il_train segment on the
    hindsight demonstrations, saved as a :class:`LearnerPool`; the fit table gives each
    learner's in-segment accuracy."""
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    demos = method_demos(p, "hindsight", bars, scaled, segments)
    learners, rows = [], []
    regime = segments.set_index("segment")["regime"]
    for i, seg in enumerate(ids):
        own = demos.select_segments([seg])
        learner = make_method_learner(p, p.il.method).fit(own, seed=p.seed)
        learners.append(learner)
        acts = learner.act(_pool_states(learner, own.states))
        acc = imitation.imitation_accuracy(acts, own.actions, p.il.hold_band)
        rows.append(
            {
                "agent": f"IL{i + 1}",
                "segment": seg,
                "regime": regime[seg],
                "method": p.il.method,
                "train_bars": len(own),
                **acc,
                "one_class": one_class_note(
                    imitation.action_classes(np.asarray(acts), p.il.hold_band),
                    imitation.action_classes(np.asarray(own.actions), p.il.hold_band),
                ),
            }
        )
    pool = LearnerPool(learners, ids)
    torch.save(
        {"pool": pool, "meta": {"segments": ids, "method": p.il.method}},
        artifact(p, "il_agents.pt", root),
    )
    pd.DataFrame(columns=["epoch", "agent", "train_mse", "val_mse"]).to_csv(
        artifact(p, "il_history.csv", root), index=False
    )
    fit = pd.DataFrame(rows)
    write_table(fit, p.tables_dir(root), "il_fit", floatfmt=".3g")
    check_pool(fit)
    return None, fit


def _pool_states(learner: Any, x: np.ndarray) -> np.ndarray:
    """States for a pool learner: market features, plus a neutral all-cash portfolio for
    learners that read one (DAgger)."""
    x = np.asarray(x, dtype=np.float32)
    if learner.state_dim == x.shape[1]:
        return x
    return np.c_[x, np.ones(len(x), np.float32), np.zeros(len(x), np.float32)]


def simulated_pathset(
    p: Params,
    mdata: market.MarketData,
    impact: str,
    n_paths: int,
    length: int,
    seed: int,
    device: str = "cpu",
    **over: Any,
) -> realism.PathSet:
    """Paths of the simulator (or its static replay) with no RL trading, as a path set
    (``over``: other :class:`ilsim.market.MarketConfig` fields)."""
    bars_per_day = int(pd.Series(mdata.bars.index.date).value_counts().max())
    cfg = market_config(p, mdata.bars, impact=impact, episode_bars=length + 1, **over)
    m = market.VectorMarket(mdata, cfg, n_paths, device)
    path = market.rollout(m, torch.zeros(length - 1, n_paths), seed)
    return realism.PathSet.from_prices(
        path["price"], path["volume"], path["bar_of_day"].astype(np.int64), bars_per_day
    )


def simulator_realism(
    p: Params,
    mdata: market.MarketData,
    seed: int = 0,
    device: str = "cpu",
    root: str | Path = ".",
) -> pd.DataFrame:
    """Stylized facts of simulated paths (no RL trading) against the held-out backtest bars,
    beside the static replay of the training segments and a GBM baseline (and the ``learned``
    impact mode's paths when notebook 05's law exists); written as ``realism.csv``."""
    length, n = market_bars(p, mdata.bars).episode, p.market.n_paths
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    real = realism.PathSet.from_bars(mdata.bars, regimes.role_ranges(segments, "backtest"), length)
    candidates = {
        "simulator": simulated_pathset(p, mdata, "paper", n, length, seed, device),
        # issue 15: the same, its noise scaled by the volatility head for the pool's state
        "simulator (volatility head)": simulated_pathset(
            p, mdata, "paper", n, length, seed, device, volatility="head"
        ),
        "static replay": simulated_pathset(p, mdata, "none", n, length, seed, device),
        "GBM": realism.gbm_paths(real, n, length, seed),
    }
    if mdata.impact_law is not None:  # the pool's order flow through the learned law
        candidates["simulator (learned)"] = simulated_pathset(
            p, mdata, "learned", n, length, seed, device
        )
    hour = max(1, round(60 / bar_minutes(mdata.bars)))  # the Fano factor's window: one hour
    table = realism.realism_table(real, candidates, n_boot=200, seed=seed, fano_window=hour)
    write_table(table, p.tables_dir(root), "realism", floatfmt=".4g")
    return table


# The smallest response (bp, to the largest probe buy) that counts as the paper's mechanism
# moving the price.
PAPER_IMPACT_MIN_BP = 0.1


def _why_not_moving(row: pd.Series) -> str:
    """Why a probe's response does not count as moving the price, from its own numbers."""
    if not np.isfinite(row["ci_low"]):
        return "has no interval to test"
    if row["ci_high"] < 0:
        return "is negative, its 95 % interval below 0"
    if row["ci_low"] <= 0:
        return "has a 95 % interval that includes 0"
    return f"is below the {PAPER_IMPACT_MIN_BP:g} bp threshold"


def choose_impact_mode(p: Params, response: pd.DataFrame, root: str | Path = ".") -> dict:
    """The impact mode the measurement supports for the headline run (SPEC step 6).

    ``paper`` if its response to the largest buy is positive with a 95 % interval above 0 and
    at least ``PAPER_IMPACT_MIN_BP``; otherwise ``learned`` (issue 10: the pool's and the RL
    agent's order flow through the law fitted on the data) when it was probed and its response
    is positive with an interval above 0; otherwise ``calibrated``. Written to
    ``results/<name>/impact_mode.json``.
    """

    def largest(mode: str) -> pd.Series | None:
        rows = response[response["impact"] == mode]
        return rows.sort_values("size").iloc[-1] if len(rows) else None

    paper, cal, learned = largest("paper"), largest("calibrated"), largest("learned")
    moves = bool(paper["ci_low"] > 0 and paper["response_bp"] >= PAPER_IMPACT_MIN_BP)
    learned_moves = learned is not None and bool(
        learned["ci_low"] > 0 and learned["response_bp"] > 0
    )
    mode = "paper" if moves else "learned" if learned_moves else "calibrated"
    verdict = (
        "The paper's mechanism alone produces impact: the headline run uses `paper`."
        if moves
        else "The paper's mechanism alone does not produce measurable impact (its response "
        + _why_not_moving(paper)
        + f"), so the headline run uses `{mode}`"
        + (
            f" (the order flow through the law fitted on the data moves it by "
            f"{learned['response_bp']:.3g} bp)."
            if mode == "learned"
            else "."
        )
    )
    text = (
        f"A buy of {paper['size']:.0%} of cash moves the price by {paper['response_bp']:.3g} bp "
        f"(95 % interval {paper['ci_low']:.3g} … {paper['ci_high']:.3g}) after "
        f"{p.market.probe_horizon_minutes:g} minutes in `paper` mode and by "
        f"{cal['response_bp']:.3g} bp in `calibrated` mode. {verdict}"
    )
    out = {
        "mode": mode,
        "paper_response_bp": float(paper["response_bp"]),
        "calibrated_response_bp": float(cal["response_bp"]),
        "learned_response_bp": None if learned is None else float(learned["response_bp"]),
        "text": text,
    }
    artifact(p, "impact_mode.json", root).write_text(json.dumps(out, indent=1))
    return out


# -- policies, backtests and the reproduction (notebooks 06-08) ---------------------------------

LEARNED = ("final_rl", "rl_baseline", "il_baseline")


def policy_path(p: Params, agent: str, seed: int, root: str | Path = ".") -> Path:
    """Where one trained policy (and its training curve, ``.csv`` beside it) is kept."""
    return artifact(p, f"policies/{agent}_seed{seed}.pt", root)


def final_impact_mode(p: Params, root: str | Path = ".") -> str:
    """The final agent's impact mode: the params' choice, or notebook 05's measured one."""
    if p.rl.final_impact != "auto":
        return p.rl.final_impact
    return json.loads(artifact(p, "impact_mode.json", root).read_text())["mode"]


def ddpg_config(p: Params, seeds: Sequence[int] | None = None, **overrides: Any):
    """The ``rl`` params as a DDPG configuration (paper Table 5 plus our choices) for the given
    seeds (default: all of ``rl.seeds``, trained together as stacked networks)."""
    from ilsim import ddpg

    r = p.rl
    cfg = ddpg.DDPGConfig(
        actor_hidden=r.actor_hidden,
        critic_hidden=r.critic_hidden,
        actor_lr=r.actor_lr,
        critic_lr=r.critic_lr,
        batch_size=r.batch_size,
        buffer_size=r.buffer_size,
        gamma=r.gamma,
        tau=r.tau,
        exploration_noise=r.exploration_noise,
        learning_starts=r.learning_starts,
        total_steps=r.total_steps,
        updates_per_step=r.updates_per_step,
        checkpoint_every=r.checkpoint_every,
        seeds=tuple(r.seeds if seeds is None else seeds),
        device=resolve_device(p.device),
        reward_scale=r.reward_scale,
        obs_norm=r.obs_norm,
        preact_penalty=r.preact_penalty,
        target_noise=r.target_noise,
        policy_delay=r.policy_delay,
        eval_every=r.eval_every,
        patience=r.patience,
        min_steps=r.min_steps,
    )
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
    return _train_ddpg(
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


def _train_ddpg(
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


# -- the size sweep (issue 10): when does interactive training pay off? ------------------------


def sweep_label(size: float) -> str:
    """A portfolio size as a file-name label that reads back as the same float:
    1e6 -> "1e06", 2.5e6 -> "2.5e06"."""
    label = f"{size:g}".replace("+", "")
    if float(label) != size:
        raise ValueError(f"portfolio size {size!r} has no exact short label; round it")
    return label


def sweep_policy_path(
    p: Params,
    agent: str,
    seed: int,
    size: float | None = None,
    root: str | Path = ".",
    fee: float | None = None,
) -> Path:
    """A sweep policy: ``final_rl`` per size and fee; ``rl_baseline`` once per fee (static
    replay with rewards and actions relative to the account, so its training does not depend
    on the size). ``fee``: default the headline ``backtest.fee``."""
    tag = "" if size is None else f"_{sweep_label(size)}"
    fee = p.backtest.fee if fee is None else fee
    return artifact(p, f"sweep/{agent}{tag}_fee{sweep_label(fee)}_seed{seed}.pt", root)


def train_sweep(
    p: Params,
    agent: str,
    size: float | None = None,
    root: str | Path = ".",
    progress: bool = True,
    fee: float | None = None,
) -> pd.DataFrame:
    """Train one sweep policy (every seed of ``sweep.seeds``, the sweep's budget) at ``fee``
    (default ``backtest.fee``; the sweep runs every fee of ``backtest.fees()``): ``final_rl``
    in the simulator's ``sweep.impact`` mode with ``size`` as its portfolio, selected on the
    impact-aware validation backtest at that size; ``rl_baseline`` on static replay, selected
    on the static validation backtest (it never sees impact). Random streams: one per agent,
    as in the headline run, so along the size and fee axes a seed number reuses its draws
    (common random numbers: a difference between sizes is not one of luck), while final_rl
    and rl_baseline never share theirs."""
    sw = p.sweep
    fee = p.backtest.fee if fee is None else fee
    over = {"total_steps": sw.total_steps, "min_steps": min(sw.min_steps, sw.total_steps)}
    if agent == "final_rl":
        if size is None:
            raise ValueError("final_rl in the sweep needs a portfolio size")
        law = backtest_impact_law(p, root)
        return _train_ddpg(
            p,
            agent,
            sw.impact,
            p.rl.train_roles,
            sw.seeds,
            lambda s: sweep_policy_path(p, agent, s, size, root, fee),
            validation_evaluator(p, root, law=law, initial_cash=size, fee=fee),
            initial_cash=size,
            fee=fee,
            root=root,
            progress=progress,
            **over,
        )
    if agent == "rl_baseline":
        return _train_ddpg(
            p,
            agent,
            "none",
            ("il_train",),
            sw.seeds,
            lambda s: sweep_policy_path(p, agent, s, None, root, fee),
            validation_evaluator(p, root, fee=fee),
            fee=fee,
            root=root,
            progress=progress,
            **over,
        )
    raise ValueError(f"the sweep trains final_rl or rl_baseline, not {agent!r}")


def size_sweep(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Every sweep size and fee: long-only, the static-trained rl_baseline and the final_rl
    trained at that size, all trained and backtested at that fee, in the impact-aware backtest
    at that size on every ``backtest`` segment. One row per fee × size × strategy × seed ×
    segment, written to ``results/<name>/size_sweep.csv``."""
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    scaled = pd.read_parquet(artifact(p, "features.parquet", root))
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    law = backtest_impact_law(p, root)
    if law is None:
        raise ValueError("the size sweep backtests with impact: set backtest.impact: true")
    bpy = metrics.trading_bars_per_year(bar_minutes(bars))
    starts = new_sessions(bars.index)
    seeds = list(p.sweep.seeds)
    rows = []
    for fee, size in itertools.product(p.backtest.fees(), p.sweep.sizes):
        for seg in segments[segments["role"] == "backtest"].itertuples(index=False):
            sl = slice(seg.first_bar, seg.last_bar + 1)
            prices = bars["close"].to_numpy()[sl]
            lo = backtest.run_backtest(
                prices,
                backtest.long_only_actions(len(prices))[None],
                initial_cash=size,
                fee=fee,
                impact=law,
                new_session=starts[sl],
            )
            runs = {"long_only": (lo, [0])}
            for agent, tag in (("rl_baseline", None), ("final_rl", size)):
                res, _ = _policy_actions(
                    p,
                    agent,
                    sl,
                    scaled,
                    prices,
                    root,
                    law,
                    starts[sl],
                    seeds=seeds,
                    policy_file=lambda s, a=agent, t=tag, f=fee: sweep_policy_path(
                        p, a, s, t, root, f
                    ),
                    initial_cash=size,
                    fee=fee,
                )
                runs[agent] = (res, seeds)
            for agent, (res, sds) in runs.items():
                table = metrics.metrics_table(
                    res.value, res.traded_notional, initial_value=size, bars_per_year=bpy
                )
                change = metrics.position_change_fraction(np.atleast_2d(res.holdings))
                for i, s in enumerate(sds):
                    rows.append(
                        {
                            "fee": fee,
                            "size": size,
                            "segment": seg.segment,
                            "regime": seg.regime,
                            "strategy": agent,
                            "seed": s,
                            **table.iloc[i].to_dict(),
                            "position_change_frac": float(change[i]),
                            "degenerate": bool(metrics.is_degenerate(change)[i]),
                        }
                    )
    out = pd.DataFrame(rows)
    out.to_csv(artifact(p, "size_sweep.csv", root), index=False)
    return out


def write_size_sweep(p: Params, root: str | Path = ".") -> tuple[pd.DataFrame, str]:
    """The sweep's step (rule ``size_sweep``): backtest it, write the summary table
    ``size_sweep`` and ``fig_size_sweep``; returns the summary and the verdict line."""
    from ilsim import plots
    from ilsim.report import sweep_summary, sweep_verdict

    rows = size_sweep(p, root)
    summary = sweep_summary(rows)
    write_table(summary, p.tables_dir(root), "size_sweep", floatfmt=".4g")
    plots.save_figure(plots.plot_size_sweep(summary), p.figures_dir(root), "fig_size_sweep")
    return summary, sweep_verdict(rows)


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


def _policy_actions(
    p: Params,
    agent: str,
    bars_slice: slice,
    scaled: pd.DataFrame,
    prices: np.ndarray,
    root: str | Path,
    law: impact.ImpactLaw | None = None,
    new_session: np.ndarray | None = None,
    seeds: Sequence[int] | None = None,
    policy_file: Any = None,
    initial_cash: float | None = None,
    fee: float | None = None,
) -> tuple[backtest.BacktestResult, np.ndarray]:
    """Backtest every seed of one learned strategy on one slice of real bars (``law``: the
    impact-aware backtest; ``policy_file(seed)``: where each seed's policy is, default the
    headline run's; ``fee``: default ``backtest.fee``)."""
    from ilsim import ddpg

    seeds = list(p.rl.seeds if seeds is None else seeds)
    where = policy_file or (lambda s: policy_path(p, agent, s, root))
    cash = p.backtest.initial_cash if initial_cash is None else initial_cash
    fee = p.backtest.fee if fee is None else fee
    kw = {"initial_cash": cash, "fee": fee, "impact": law, "new_session": new_session}
    states = scaled.iloc[bars_slice].to_numpy(np.float32)
    if agent == "il_baseline":
        # The BC agent imitates labels in {-1, 0, +1}: it trades its predicted class (sell all,
        # hold, or buy with all cash), |output| <= il.hold_band being hold.
        x = torch.from_numpy(np.ascontiguousarray(states))
        raw = [imitation.load_agents(where(s))[0].act(x)[:, 0].numpy() for s in seeds]
        acts = np.stack([imitation.action_classes(r, p.il.hold_band) for r in raw]).astype(float)
        return backtest.run_backtest(prices, acts, **kw), acts
    loaded = [ddpg.load_policy(where(s)) for s in seeds]
    actors = ddpg.stack_actors([a for a, _ in loaded])
    return backtest.run_policy_backtest(
        prices,
        states,
        actors.policy(),
        actors.k,
        mode=loaded[0][1].get("action_mode", "fraction"),
        **kw,
    )


def run_backtests(p: Params, root: str | Path = ".") -> tuple[pd.DataFrame, dict]:
    """Every strategy (every seed) on every ``backtest`` segment, static real prices, with the
    fee; returns the metrics (one row per strategy × seed × segment) and the value paths.
    With ``backtest.impact`` each row also has the impact-aware backtest's metrics
    (``impact_<metric>``: the same strategy on real prices plus its own impact).

    Each row also has ``position_change_frac`` (share of bars whose trade changes the holdings)
    and ``degenerate`` (the position stays put on >= 99 % of the bars, see
    :func:`ilsim.metrics.is_degenerate`); long-only is degenerate by construction — one buy, then
    hold — as the constant benchmark it is."""
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    scaled = pd.read_parquet(artifact(p, "features.parquet", root))
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    bpy = metrics.trading_bars_per_year(bar_minutes(bars))
    bt = p.backtest
    law = backtest_impact_law(p, root)
    starts = new_sessions(bars.index)
    rows, paths = [], {}
    for k, seg in enumerate(segments[segments["role"] == "backtest"].itertuples(index=False)):
        sl = slice(seg.first_bar, seg.last_bar + 1)
        prices = bars["close"].to_numpy()[sl]

        def strategies(law: impact.ImpactLaw | None, sl: slice = sl, prices=prices) -> dict:
            kw = {"impact": law, "new_session": starts[sl]}
            long_only = backtest.long_only_actions(len(prices))[None]
            out = {
                "long_only": (
                    backtest.run_backtest(
                        prices, long_only, initial_cash=bt.initial_cash, fee=bt.fee, **kw
                    ),
                    None,
                )
            }
            for agent in LEARNED:
                out[agent] = _policy_actions(p, agent, sl, scaled, prices, root, law, starts[sl])
            return out

        runs = strategies(None)
        aware = strategies(law) if law is not None else {}
        for agent, (res, acts) in runs.items():
            seeds = [0] if agent == "long_only" else list(p.rl.seeds)
            table = metrics.metrics_table(
                res.value, res.traded_notional, initial_value=bt.initial_cash, bars_per_year=bpy
            )
            if agent in aware:
                ra = aware[agent][0]
                imp = metrics.metrics_table(
                    ra.value, ra.traded_notional, initial_value=bt.initial_cash, bars_per_year=bpy
                ).add_prefix("impact_")
                table = pd.concat([table, imp], axis=1)
            change = metrics.position_change_fraction(np.atleast_2d(res.holdings))
            degenerate = metrics.is_degenerate(change)
            for i, s in enumerate(seeds):
                rows.append(
                    {
                        "backtest": k + 1,
                        "segment": seg.segment,
                        "regime": seg.regime,
                        "strategy": agent,
                        "seed": s,
                        **table.iloc[i].to_dict(),
                        "position_change_frac": float(change[i]),
                        "degenerate": bool(degenerate[i]),
                    }
                )
            paths[(seg.segment, agent)] = {
                "value": res.value,
                "holdings": res.holdings,
                "actions": acts,
            }
        paths[(seg.segment, "price")] = prices
    out = pd.DataFrame(rows)
    out.to_csv(artifact(p, "backtests.csv", root), index=False)
    return out, paths


CLAIM_METRICS = ("total_return_pct", "max_drawdown_pct", "volatility")


def claim_backtests(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """The claims' backtests (issue 15), written to ``results/<name>/claim_backtests.csv``:
    every strategy on every ``backtest`` segment at each fee of the fee axis
    (``backtest.fees()``; the policies are the headline run's, trained at ``backtest.fee``), and
    beside each learned strategy × seed its *exposure-matched constant position* (kind
    ``constant``; not "null", which CSV readers take for a missing value): it buys the
    strategy's time-averaged share of value in shares, averaged over the segments, at the
    first decision and holds. A claim the null meets too needs no
    learning: exposure alone explains it. One row per fee × segment × strategy × seed × kind."""
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    scaled = pd.read_parquet(artifact(p, "features.parquet", root))
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    segs = list(segments[segments["role"] == "backtest"].itertuples(index=False))
    bpy = metrics.trading_bars_per_year(bar_minutes(bars))
    cash, seeds = p.backtest.initial_cash, list(p.rl.seeds)
    close = bars["close"].to_numpy()
    rows = []

    def add(fee, seg, agent, kind, res, prices, sds):
        table = metrics.metrics_table(
            res.value, res.traded_notional, initial_value=cash, bars_per_year=bpy
        )
        held = metrics.exposure(res.holdings, prices, res.value)
        change = metrics.position_change_fraction(np.atleast_2d(res.holdings))
        for i, s in enumerate(sds):
            rows.append(
                {
                    "fee": fee,
                    "segment": seg.segment,
                    "regime": seg.regime,
                    "strategy": agent,
                    "seed": s,
                    "kind": kind,
                    "exposure": float(held[i]),
                    **{m: float(table.iloc[i][m]) for m in CLAIM_METRICS},
                    "position_change_frac": float(change[i]),
                    "degenerate": bool(metrics.is_degenerate(change)[i]),
                }
            )

    for fee in p.backtest.fees():
        runs: dict[tuple[str, int], backtest.BacktestResult] = {}
        for seg in segs:
            sl = slice(seg.first_bar, seg.last_bar + 1)
            prices = close[sl]
            lo = backtest.run_backtest(
                prices, backtest.long_only_actions(len(prices))[None], initial_cash=cash, fee=fee
            )
            add(fee, seg, "long_only", "strategy", lo, prices, [0])
            for agent in LEARNED:
                res, _ = _policy_actions(p, agent, sl, scaled, prices, root, fee=fee)
                runs[(agent, seg.segment)] = res
                add(fee, seg, agent, "strategy", res, prices, seeds)
        for agent in LEARNED:
            per_seg = [
                metrics.exposure(runs[(agent, s.segment)].holdings,
                                 close[s.first_bar : s.last_bar + 1],
                                 runs[(agent, s.segment)].value)
                for s in segs
            ]
            f = np.clip(np.mean(per_seg, axis=0), 0.0, 1.0)  # [K] seeds
            for seg in segs:
                prices = close[seg.first_bar : seg.last_bar + 1]
                acts = np.zeros((len(seeds), len(prices)))
                acts[:, 0] = f
                null = backtest.run_backtest(prices, acts, initial_cash=cash, fee=fee)
                add(fee, seg, agent, "constant", null, prices, seeds)
    out = pd.DataFrame(rows)
    out.to_csv(artifact(p, "claim_backtests.csv", root), index=False)
    return out


def _case_line(p: Params, root: str | Path = ".") -> list[str]:
    """The case studies as picked from the backtests that were run (none before notebook 07)."""
    from ilsim.report import case_text

    path = artifact(p, "backtests.csv", root)
    if not path.exists():
        return []
    return [f"Case studies (Figures 5 and 6): {case_text(pd.read_csv(path))}."]


def _pool_line(p: Params, root: str | Path = ".") -> list[str]:
    """The IL agents that never leave one action class (notebook 03's fit table), if any."""
    path = p.tables_dir(root) / "il_fit.csv"
    fit = pd.read_csv(path) if path.exists() else pd.DataFrame()
    if "one_class" not in fit:
        return []
    stuck = fit[fit["one_class"].fillna("").astype(str) != ""]
    if stuck.empty:
        return []
    which = "; ".join(f"{r.agent} (segment {r.segment}): {r.one_class}" for r in stuck.itertuples())
    return [
        f"IL pool: {len(stuck)} of {len(fit)} agents never leave one action class on their own "
        f"segment ({which}; tables/il_fit)."
    ]


def deviations(p: Params, root: str | Path = ".") -> list[str]:
    """The Deviations list of the reproduction report, filled from params and artifacts."""
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    r, m = p.rl, p.market
    probe = json.loads(artifact(p, "impact_mode.json", root).read_text())
    n_roles = segments["role"].value_counts().to_dict()
    bar_min = bar_minutes(bars)
    n = m.in_bars(bar_min)
    coverage = (
        f" (each with at least {segments['coverage'].min():.0%} of its sessions)"
        if "coverage" in segments
        else ""
    )
    eval_seg = il_eval_segment(p, segments)
    return [
        f"Data: {bar_min:g}-minute bars from {bars.index[0].date()} to {bars.index[-1].date()} "
        f"({'synthetic default market' if p.data.source == 'synthetic' else p.data.path}); the "
        "paper used 1-minute QQQ bars for 2019–2024.",
        f"Segments: {len(segments)} covered{coverage} (ids {segments['segment'].min()}–"
        f"{segments['segment'].max()}); a segment with less than "
        f"{p.segments.min_coverage:.0%} of its sessions in the data is dropped "
        "(segments.min_coverage; data_import.md lists any). Roles "
        f"{n_roles}: {roles_text(p, segments)}",
        "Segments hold the sessions after their first extremum day up to and including their "
        "last (the paper does not say).",
        "Features: EMA, MACD, signal and VWAP relative to the close (EMA/close − 1 …); min-max "
        "scaling fitted on il_train bars only; indicator periods in bars "
        f"(EMA {list(p.features.ema_periods_bars)}, MACD {list(p.features.macd_bars)}, "
        f"RelVol window {p.features.relvol_window_bars}).",
        f"Expert labels on closes, θ = {p.experts.theta:.0%}, first barrier hit within the "
        "segment; the last bar of a segment is hold.",
        f"IL traders (Tables 3–4): an action a is an order of a × {p.il.order_unit_shares:g} "
        f"shares; evaluated on segment {eval_seg['segment']} ({eval_seg['role']}, "
        f"{eval_seg['regime']}; il.eval_segment {p.il.eval_segment!r}).",
        "Synthesis network: target standardised, trained one step ahead within sessions on "
        "sim_train; the simulator adds block-bootstrapped training residuals (blocks start at "
        f"the env's time of day, {m.noise_block_minutes:g} minutes = {n.noise_block} bars) with "
        "the real volume of those bars.",
        f"Impact: the final agent trains in `{final_impact_mode(p, root)}` mode; notebook 05 "
        f"measured {probe['paper_response_bp']:.3g} bp in `paper` mode, "
        f"{probe['calibrated_response_bp']:.3g} bp in `calibrated` mode"
        + (
            f" and {probe['learned_response_bp']:.3g} bp in `learned` mode"
            if probe.get("learned_response_bp") is not None
            else ""
        )
        + " for a buy of all cash. `learned` (ours, issue 10) reads the paper's \"the RL "
        "agent's action is added to the pool of actions\" literally: the pool's net order (less "
        "its mean on sim_train) and the RL order are one order flow, moved through a propagator "
        "law fitted on the sim_train bars (signed volume by bulk volume classification); the RL "
        "order fills in full against the market, not against the pool.",
        "Impact-aware backtests (ours, issue 10): "
        + (
            "every strategy also trades on the real prices plus its own impact through the "
            "fitted law"
            + (
                f" with the coefficient set to {p.backtest.impact_coef:g}"
                if p.backtest.impact_coef is not None
                else ""
            )
            + ", marked at its own impacted price (Table 1's `impact_*` columns). The size "
            f"sweep trains final_rl at {', '.join(sweep_label(x) for x in p.sweep.sizes)} in "
            f"`{p.sweep.impact}` mode with {len(p.sweep.seeds)} seeds and at most "
            f"{p.sweep.total_steps} vector steps (not before {p.sweep.min_steps}), selected on "
            "the impact-aware validation backtest at its size; rl_baseline once (static replay "
            "is size-free), selected on the static one."
            if p.backtest.impact
            else "off (backtest.impact: false)."
        ),
        f"DDPG: actor lr {r.actor_lr:g}, critic lr {r.critic_lr:g} (not in the paper); "
        f"{r.n_envs} parallel envs per seed, at most {r.total_steps} vector steps "
        f"({r.n_envs * r.total_steps:,} env steps per seed), warm-up {r.learning_starts} vector "
        f"steps, episodes of {m.episode_minutes:g} minutes ({n.episode} bars); episodes start "
        "in the "
        f"{'/'.join(r.train_roles)} segments (RL baseline: static replay of il_train). The seeds "
        "of one agent train together as stacked networks (each model from its own seed's "
        "initial weights; env, exploration and replay streams shared).",
        "Reward (issue 9): "
        + (
            "the value change over ONE bar, not the paper's "
            f"{m.reward_window_minutes:g}-minute window "
            f"({minutes_to_bars(m.reward_window_minutes, bar_min)} bars), whose overlapping "
            "rewards smear each action's effect over the window, so that DDPG learns far less "
            "from it on a planted edge (notebook 06). In the simulator an order fills at the next "
            "close, so an action's one-bar reward holds its fee and the move of the position "
            "held before it; its own exposure shows one reward later (a planted edge with that "
            "timing is learned too, notebook 06)"
            if m.reward == "bar"
            else f"the paper's {m.reward_window_minutes:g}-minute window "
            f"({minutes_to_bars(m.reward_window_minutes, bar_min)} bars)"
        )
        + f"; divided by the initial value and multiplied by {r.reward_scale:g} for learning "
        "(the reward as built, ~1e-4 a bar, is some 1e3 times smaller than the critic's initial "
        "outputs, which slows learning: notebook 06 measures plain DDPG on it beside the scaled "
        "reward; a constant factor leaves the optimal policy unchanged, though it sets the "
        "weight of the pre-tanh penalty against Q).",
        f"Learner options (ours): pre-tanh penalty {r.preact_penalty:g} on the actor (keeps it "
        "off tanh's flat tails, where issue 9's policies were trapped in one corner), "
        f"observation normalisation {'on' if r.obs_norm else 'off'}, TD3 target smoothing "
        f"{r.target_noise:g}, policy delay {r.policy_delay}; actions: "
        + (
            "the paper's (buy with a fraction of cash, sell a fraction of holdings)."
            if m.action_mode == "fraction"
            else "a target fraction of value held in shares (not the paper's)."
        ),
        f"Selection: every {r.eval_every} vector steps each seed is scored on the validation "
        "segments (static real prices, the backtest's rules, mean log growth); the saved policy "
        f"is the best there; training stops after {r.patience} evaluations without improvement "
        f"(not before {r.min_steps} steps). Validation segments: "
        f"{segments.loc[segments['role'] == 'validation', 'segment'].tolist()} (never backtests, "
        "never RL training).",
        f"Seeds: {len(r.seeds)} per learned policy, each agent on its own random stream (a "
        "seed number shared by two agents shares no draws); Table 1's intervals are 95 % "
        "Student-t across seeds, the claims' two-level bootstraps over segments and seeds.",
        "Execution (simulator and backtests alike): a decision on bar t's close fills in full "
        f"at the next bar's close, with a {p.backtest.fee:.1%} fee on traded notional, "
        f"{p.backtest.initial_cash:,.0f} initial "
        "cash, fractional shares, no shorting. Volatility and Sharpe are of per-bar returns, "
        "un-annualised (annualised values in backtests.csv).",
        *_case_line(p, root),
        *_pool_line(p, root),
        "IL baseline: one BC agent (same MLP) on the union of il_train labels; it trades its "
        f"predicted class (|output| <= {p.il.hold_band:g}: hold; otherwise buy with all cash "
        "or sell all holdings).",
    ]


# -- the seeds' IL methods (notebook 09) --------------------------------------------------------


class LearnerPool:
    """Fitted learners (any :class:`ilsim.imitation.Learner`) as the simulator's agent pool:
    states [N, F] → actions [N, M]. A learner that also reads a portfolio (DAgger) sees a
    neutral one — all cash — since the pool's agents keep no accounts in the simulator."""

    def __init__(self, learners: list, segments: list[int] | None = None) -> None:
        self.learners, self.segments = list(learners), list(segments or [])

    @property
    def n_models(self) -> int:
        return len(self.learners)

    @torch.no_grad()
    def act(self, states: torch.Tensor) -> torch.Tensor:
        x = states.detach().cpu().numpy().astype(np.float32)
        cols = [np.asarray(a.act(_pool_states(a, x)), dtype=np.float32) for a in self.learners]
        return torch.as_tensor(np.stack(cols, 1), device=states.device)


def make_method_learner(p: Params, method: str):
    """A learner of one of the seeds' methods, sized by the ``il_methods`` params."""
    m = p.il_methods
    if method == "bc":  # the paper's agent: continuous actions, MSE
        return imitation.make_learner(
            "bc", action_space="continuous", hidden=m.hidden, max_epochs=m.max_epochs
        )
    if method == "dagger":
        return imitation.make_learner(
            "dagger",
            action_space=m.action_space,
            hidden=m.hidden,
            max_epochs=m.max_epochs,
            iter_epochs=m.max_epochs,
            n_iter=m.dagger_iterations,
            fee=p.backtest.fee,
        )
    if method == "maxent_irl":
        return imitation.make_learner(
            "maxent_irl", action_space=m.action_space, n_iter=m.irl_iterations
        )
    if method == "gail":
        return imitation.make_learner(
            "gail",
            action_space=m.action_space,
            hidden=m.hidden,
            n_iter=m.gail_iterations,
            bc_pretrain_epochs=m.max_epochs,
        )
    raise ValueError(f"unknown IL method {method!r}")


def method_demos(
    p: Params, kind: str, bars: pd.DataFrame, scaled: pd.DataFrame, segments: pd.DataFrame
):
    """Demonstrations of one demonstrator on every segment (labels never cross a segment)."""
    from ilsim import demonstrators

    kw = {"theta": p.experts.theta} if kind == "hindsight" else {}
    ids = regimes.bar_segment_ids(segments, len(bars))
    return demonstrators.demonstrations(kind, bars, scaled, ids, **kw)


def il_method_study(
    p: Params,
    method: str,
    demonstrator: str,
    bars: pd.DataFrame,
    scaled: pd.DataFrame,
    segments: pd.DataFrame,
    scaler: features.MinMaxScaler,
    simulate: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """One IL method as the pool builder: fit one learner per ``il_train`` segment, score them
    on the held-out backtests (imitation and trading), and — with ``simulate`` — build the
    simulator from this pool (synthesis network, realism against held-out bars) and train a
    short DDPG run in it, backtested on the real backtest segments."""
    from ilsim import ddpg

    demos = method_demos(p, demonstrator, bars, scaled, segments)
    train_ids = segments.loc[segments["role"] == "il_train", "segment"].tolist()
    held = segments.loc[segments["role"] == "backtest", "segment"].tolist()
    t0 = time.perf_counter()
    learners = [
        make_method_learner(p, method).fit(demos.select_segments([s]), seed=p.seed)
        for s in train_ids
    ]
    fit_s = time.perf_counter() - t0
    test = demos.select_segments(held)
    bt = p.backtest
    evals = pd.DataFrame(
        [
            imitation.evaluate_learner(
                a, test, initial_cash=bt.initial_cash, fee=bt.fee, hold_band=p.il.hold_band
            )
            for a in learners
        ]
    )
    row: dict[str, Any] = {
        "method": method,
        "demonstrator": demonstrator,
        "agents": len(learners),
        "fit_seconds": fit_s,
        "accuracy": evals["accuracy"].mean(),
        "majority_rate": evals["majority_rate"].mean(),
        "total_return_pct": evals["total_return_pct"].mean(),
        "sharpe_ratio": evals["sharpe_ratio"].mean(),
        "max_drawdown_pct": evals["max_drawdown_pct"].mean(),
        "turnover": evals["turnover"].mean(),
    }
    if not simulate:
        return row
    pool = LearnerPool(learners, train_ids)
    acts = il_actions(pool, scaled)
    fit, quality, meta = fit_synthesis(p, bars, scaled, segments, acts, progress)
    row["synthesis_skill_heldout"] = float(quality.iloc[-1]["skill"])
    mdata = assemble_market(p, bars, segments, scaler, pool.act, fit.model, fit.residuals, meta)
    m = p.il_methods
    episode = market_bars(p, bars).episode
    real = realism.PathSet.from_bars(bars, regimes.role_ranges(segments, "backtest"), episode)
    sim = simulated_pathset(p, mdata, "paper", m.n_paths, episode, p.seed)
    table = realism.realism_table(
        real, {"simulator": sim}, n_boot=50, seed=p.seed, include_real_split=False
    )
    row["realism_distance"] = float(table.loc[table["fact"] == "total", "distance"].iloc[0])
    train = assemble_market(
        p, bars, segments, scaler, pool.act, fit.model, fit.residuals, meta, p.rl.train_roles
    )
    env = market.VectorMarket(
        train, market_config(p, bars, impact="calibrated", stagger_starts=True), p.rl.n_envs
    )
    res = ddpg.train(
        env,
        ddpg_config(
            p,
            [p.seed],
            total_steps=m.rl_steps,
            checkpoint_every=m.rl_steps,
            learning_starts=min(p.rl.learning_starts, m.rl_steps // 3),
            eval_every=0,
        ),
        progress=progress,
    )
    rets, dds = [], []
    for seg in segments[segments["role"] == "backtest"].itertuples(index=False):
        sl = slice(seg.first_bar, seg.last_bar + 1)
        out, _ = backtest.run_policy_backtest(
            bars["close"].to_numpy()[sl],
            scaled.iloc[sl].to_numpy(np.float32),
            res.actor.cpu().policy(),
            1,
            initial_cash=bt.initial_cash,
            fee=bt.fee,
            mode=p.market.action_mode,
        )
        mt = metrics.compute_metrics(
            out.value[0], out.traded_notional[0], initial_value=bt.initial_cash
        )
        rets.append(mt["total_return_pct"])
        dds.append(mt["max_drawdown_pct"])
    row["rl_return_pct"] = float(np.mean(rets))
    row["rl_max_drawdown_pct"] = float(np.mean(dds))
    return row
