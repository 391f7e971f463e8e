"""The pipeline's steps as functions: each reads params and files, writes its artifacts.

The notebooks call these (one notebook, one step), and so does Snakemake through the notebooks.
Every step writes under ``results/<name>/`` (intermediate), ``reports/<name>/`` (tables,
reports) and ``figures/<name>/``; later steps read those files rather than recompute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ilsim import data, features, regimes, synthetic
from ilsim.params import Params
from ilsim.report import write_table


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
            p.data.path, tz=p.data.tz, source_tz=p.data.source_tz, session=p.data.session
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
    segs = regimes.with_roles(segs, s.rule, s.roles)
    regimes.save_segments(segs, artifact(p, "segments.csv", root))
    cols = ["segment", "start_date", "end_date", "regime", "role", "bars", "bh_return_pct"]
    table = segs[cols].rename(columns={"start_date": "start", "end_date": "end"})
    write_table(table, p.tables_dir(root), "segments", floatfmt=".2f")
    return segs


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
