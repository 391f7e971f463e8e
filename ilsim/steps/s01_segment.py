"""Step 1 (notebook 01): import the bars, cut them into the paper's regime segments and give
each segment its role; search the role assignments against the paper's long-only numbers."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ilsim import (
    data,
    regimes,
    synthetic,
)
from ilsim.params import Params
from ilsim.plots.segments import plot_segments
from ilsim.report import paper_table, write_table
from ilsim.role_search import search_backtest_roles, segment_long_only_returns
from ilsim.run import Run
from ilsim.steps.result import StepResult, run_sections


@dataclass
class ImportedBars:
    """Canonical bars plus how they were made."""

    bars: pd.DataFrame
    import_report: str
    extrema: list[dict]


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


def prepare_bars(p: Params, root: str | Path = ".") -> ImportedBars:
    """Import the data file (or generate the default market) and write the canonical bars."""
    run = Run(p, root)
    if p.data.source == "file":
        assert p.data.path is not None
        bars, rep = data.import_bars(
            p.data.path,
            tz=p.data.tz,
            source_tz=p.data.source_tz,
            session=p.data.session,
            max_outside_session=p.data.max_outside_session,
        )
        report_md = rep.to_markdown(reference=p.data.reference)
        ref = p.data.reference
        if ref is not None and rep.sha256 != ref.sha256:
            print(f"ilsim: {rep.source}: {data.DIFFERS}", file=sys.stderr)
        extrema = [{"date": e.date, "kind": e.kind} for e in p.segments.extrema]
    else:
        bars, extrema = synthetic.generate_bars(p.synthetic, seed=p.seed)
        data.validate_bars(bars, "synthetic")
        report_md = _synthetic_report(p, bars)
        if p.segments.method == "extrema":
            extrema = [{"date": e.date, "kind": e.kind} for e in p.segments.extrema]
    data.save_bars(bars, run.path("bars.parquet"))
    run.path("extrema.json").write_text(
        json.dumps([{"date": str(e["date"]), "kind": e["kind"]} for e in extrema], indent=1)
    )
    out = p.reports_dir(root) / "data_import.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report_md)
    return ImportedBars(bars, report_md, extrema)


def load_extrema(p: Params, root: str | Path = ".") -> list[dict]:
    """The extrema written by :func:`prepare_bars`."""
    run = Run(p, root)
    raw = json.loads(run.path("extrema.json").read_text())
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


def segment_market(p: Params, imported: ImportedBars, root: str | Path = ".") -> pd.DataFrame:
    """Segments with regimes and roles; written to results and to the report tables."""
    run = Run(p, root)
    s = p.segments
    if s.method == "zigzag":
        extrema = regimes.zigzag(
            data.daily_from_intraday(imported.bars)["close"], s.zigzag_threshold
        )
    else:
        extrema = imported.extrema
    segs = regimes.segments_from_extrema(extrema, imported.bars, first_date=s.first_date)
    segs, sparse = regimes.drop_sparse(segs, s.min_coverage)
    _report_coverage(p, segs, sparse, root)
    segs = regimes.with_roles(segs, s.rule, s.roles, dropped=sparse["segment"].tolist())
    check_segments(p, segs, data.bar_minutes(imported.bars))
    print(roles_text(p, segs))
    regimes.save_segments(segs, run.path("segments.csv"))
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


def role_search(
    p: Params, imported: ImportedBars, root: str | Path = "."
) -> tuple[pd.DataFrame, ...]:
    """Which segments did the paper backtest? (issue 9, item 7.) Long-only's return on a
    segment depends on the data alone, so the paper's long-only averages by regime (Table 2)
    and its case studies pin its backtest set down far better than a rule.

    Returns (and writes as tables ``segment_long_only`` and ``role_search``) every segment's
    long-only return — on the bars where they cover it (exact), else on the daily file bought
    at the next session's open (the nearest stand-in for the first 5-minute close) — and the
    backtest sets whose regime means best match the paper's, all sideways segments included as
    the SPEC's rule has it, ranked by their largest miss (pp)."""
    fee = p.backtest.fee
    exact = segment_long_only_returns(imported.extrema, imported.bars, fee=fee)
    daily = data.daily_from_intraday(imported.bars)
    if p.data.daily_path and Path(p.data.daily_path).exists():
        early = data.load_daily_csv(p.data.daily_path)
        daily = pd.concat([early[early.index < daily.index[0]], daily])
    approx = segment_long_only_returns(imported.extrema, daily, fee=fee, buy="first_open")
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
    search = search_backtest_roles(
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


def load_imported(p: Params, root: str | Path = ".") -> ImportedBars:
    """The bars, import report and extrema that :func:`prepare_bars` wrote."""
    run = Run(p, root)
    bars = run.bars()
    report_md = (p.reports_dir(root) / "data_import.md").read_text()
    return ImportedBars(bars, report_md, load_extrema(p, root))


def import_and_segment(p: Params, root: str | Path = ".") -> StepResult:
    """Section 1: import the data file (or generate the default market), cut it into the
    regime segments between the extrema and give each one its role (one section: the import
    report ends with the segments' coverage)."""
    r = StepResult()
    imported = prepare_bars(p, root)
    segments = segment_market(p, imported, root)
    r.values.update(imported=imported, segments=segments)
    r.notes["import"] = imported.import_report
    r.notes["check"] = (
        f"{len(segments)} segments, {int(segments['bars'].sum()):,} bars in segments\n"
        + segments.groupby(["role", "regime"]).size().unstack(fill_value=0).to_string()
    )
    r.notes["rule"] = f"> {p.segments.rule_text}"
    return r


def _zigzag(p: Params, root: str | Path) -> tuple[ImportedBars, pd.Series, list[dict]]:
    """The imported bars, the daily closes and the automatic zig-zag's extrema on them."""
    imported = load_imported(p, root)
    daily = daily_close(p, imported.bars, imported.extrema)
    return imported, daily, regimes.zigzag(daily, p.segments.zigzag_threshold)


def regime_overview(p: Params, root: str | Path = ".") -> StepResult:
    """Section 2: the regimes and roles over the whole span, with the automatic zig-zag."""
    run = Run(p, root)
    r = StepResult()
    imported, daily, auto = _zigzag(p, root)
    segments = run.segments()
    fig = plot_segments(
        daily, segments, imported.extrema, auto, title=f"{p.name}: regimes and roles"
    )
    r.save_figure(fig, p.figures_dir(root), "fig_segments")
    return r


def zigzag_comparison(p: Params, root: str | Path = ".") -> StepResult:
    """Section 3: how close an automatic zig-zag comes to the listed extrema."""
    r = StepResult()
    imported, daily, auto = _zigzag(p, root)
    sweep = regimes.zigzag_sweep(daily, imported.extrema, p.segments.zigzag_sweep)
    r.write_table(sweep, p.tables_dir(root), "zigzag_sweep", floatfmt=".3g")
    match = regimes.match_extrema(auto, imported.extrema, daily.index)
    r.write_table(match, p.tables_dir(root), "zigzag_vs_extrema")
    within = (match["days_off"] <= 5).mean()
    r.notes["zigzag"] = (
        f"Zig-zag threshold {p.segments.zigzag_threshold:.0%}: {len(auto)} automatic extrema "
        f"for {len(match)} listed in the span; {within:.0%} of the listed ones have a same-kind "
        f"zig-zag extremum within 5 trading days (median {match['days_off'].median():.0f} days "
        "off)."
    )
    return r


def paper_roles(p: Params, root: str | Path = ".") -> StepResult:
    """Section 4: which segments did the paper backtest? The role search."""
    r = StepResult()
    long_only, search = role_search(p, load_imported(p, root), root)
    r.tables.update(segment_long_only=long_only, role_search=search)
    r.notes["role_search"] = _role_search_note(search)
    return r


SECTIONS = (import_and_segment, regime_overview, zigzag_comparison, paper_roles)


def run(p: Params, root: str | Path = ".") -> StepResult:
    """Step 1 whole (its notebook's sections in order): import, segments and roles, the regime
    overview, the zig-zag comparison and the role search; writes every output of rule
    ``segment``."""
    return run_sections(SECTIONS, p, root)


def _role_search_note(search: pd.DataFrame) -> str:
    """One line on the best role assignment the search found."""
    if not len(search):
        return "No backtest set to rank."
    best = search.iloc[0]
    return (
        f"Best fit: backtests {best['backtests']}, largest miss {best['max_miss_pp']:.3g} pp "
        "(within rounding would be 0.005 pp). "
        + (
            "One assignment fits within rounding."
            if best["max_miss_pp"] <= 0.005
            else "**No assignment fits within rounding**: the params keep their stated rule."
        )
    )
