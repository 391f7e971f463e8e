"""Tests of ilsim.features: definitions, no look-ahead, scaler, and online == offline.

The key test (``test_online_equals_offline``) starts :class:`OnlineFeatures` at several bars
of a multi-day random walk, feeds the following bars one by one across session boundaries,
and holds every row equal to :func:`compute_features` (pandas-ta-classic) in float64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from realdata import real_file

from ilsim.features import (
    FEATURE_NAMES,
    MinMaxScaler,
    OnlineFeatures,
    compute_features,
    feature_names,
    feature_state,
    session_start_mask,
    valid_mask,
    warmup_bars,
)

TZ = "America/New_York"


def make_bars(
    n_days: int = 3,
    bars_per_day: int = 78,
    freq: str = "5min",
    seed: int = 0,
    zero_frac: float = 0.1,
    start: str = "2024-03-07",
) -> pd.DataFrame:
    """Seeded random-walk bars over business days (crosses the 2024-03-10 DST change)."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, periods=n_days)
    ranges = [
        pd.date_range(f"{d.date()} 09:30", periods=bars_per_day, freq=freq, tz=TZ) for d in days
    ]
    index = ranges[0].append(ranges[1:])
    index.name = "timestamp"
    n = len(index)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0.0, 0.0005, n))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.001, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.001, n)))
    volume = rng.lognormal(8.0, 1.0, n)
    volume[rng.random(n) < zero_frac] = 0.0
    starts = np.flatnonzero(session_start_mask(index))
    if len(starts) > 1:  # a session whose first two bars trade nothing
        volume[starts[1] : starts[1] + 2] = 0.0
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def run_online(
    bars: pd.DataFrame, starts: np.ndarray, n_steps: int, **params: object
) -> tuple[torch.Tensor, OnlineFeatures]:
    """Feed bars starts+1 .. starts+n_steps to an OnlineFeatures; return [n_steps, N, F]."""
    online = OnlineFeatures.from_history(bars, starts, dtype=torch.float64, **params)
    cols = {c: torch.tensor(bars[c].to_numpy()) for c in bars.columns}
    new_session = torch.as_tensor(session_start_mask(bars.index))
    idx = torch.as_tensor(starts)
    out = []
    for k in range(1, n_steps + 1):
        i = idx + k
        out.append(
            online.step(
                cols["open"][i],
                cols["high"][i],
                cols["low"][i],
                cols["close"][i],
                cols["volume"][i],
                new_session[i],
            ).clone()
        )
    return torch.stack(out), online


def offline_rows(feats: pd.DataFrame, starts: np.ndarray, n_steps: int) -> torch.Tensor:
    """Offline rows starts+1 .. starts+n_steps as [n_steps, N, F]."""
    idx = starts[None, :] + np.arange(1, n_steps + 1)[:, None]
    return torch.as_tensor(feats.to_numpy()[idx])


def test_feature_names() -> None:
    assert FEATURE_NAMES == (
        "ret_1",
        "ema_3",
        "ema_6",
        "ema_9",
        "ema_18",
        "ema_27",
        "macd",
        "macd_signal",
        "vwap",
        "relvol",
    )
    assert feature_names((5, 10)) == (
        "ret_1",
        "ema_5",
        "ema_10",
        "macd",
        "macd_signal",
        "vwap",
        "relvol",
    )
    bars = make_bars(n_days=1)
    assert tuple(compute_features(bars, ema_periods=(5, 10)).columns) == feature_names((5, 10))


def test_definitions_against_plain_formulas() -> None:
    bars = make_bars()
    f = compute_features(bars)
    c, v = bars["close"], bars["volume"]
    assert f.index.equals(bars.index)
    np.testing.assert_allclose(f["ret_1"], c / c.shift(1) - 1, rtol=1e-12)
    # SMA seed of the EMA, then one recursion step
    assert f["ema_3"].iloc[:2].isna().all()
    seed = c.iloc[:3].mean()
    assert f["ema_3"].iloc[2] == pytest.approx(seed / c.iloc[2] - 1, rel=1e-12)
    nxt = 0.5 * c.iloc[3] + 0.5 * seed
    assert f["ema_3"].iloc[3] == pytest.approx(nxt / c.iloc[3] - 1, rel=1e-12)

    # MACD = EMA12 - EMA26 (pandas ewm from the SMA seed), relative to close
    def ema(n: int) -> pd.Series:
        x = c.copy()
        x.iloc[: n - 1] = np.nan
        x.iloc[n - 1] = c.iloc[:n].mean()
        return x.ewm(span=n, adjust=False).mean()

    line = ema(12) - ema(26)
    np.testing.assert_allclose(f["macd"], line / c, rtol=1e-9)
    # session VWAP, typical price while the session's volume is still 0
    tp = (bars["high"] + bars["low"] + c) / 3
    day = bars.index.date
    cum_pv = (tp * v).groupby(day).cumsum()
    cum_v = v.groupby(day).cumsum()
    ref = np.where(cum_v > 0, cum_pv / cum_v.where(cum_v > 0), tp)
    np.testing.assert_allclose(f["vwap"], ref / c - 1, rtol=1e-12)
    second = np.flatnonzero(session_start_mask(bars.index))[1]
    assert f["vwap"].iloc[second] == pytest.approx(tp.iloc[second] / c.iloc[second] - 1)
    # relvol = v / rolling mean
    mean = v.rolling(20).mean()
    ref_rv = np.where(mean.isna(), np.nan, np.where(mean > 0, v / mean.where(mean > 0), 1.0))
    np.testing.assert_allclose(f["relvol"], ref_rv, rtol=1e-9)


def test_warmup_and_valid_mask() -> None:
    bars = make_bars()
    f = compute_features(bars)
    mask = valid_mask(f)
    assert warmup_bars() == 33
    assert not mask[:33].any() and mask[33:].all()
    assert f.iloc[:33].isna().any(axis=1).all()
    w = warmup_bars((3, 50), (12, 26, 9), 20)
    assert w == 49 and valid_mask(compute_features(bars, ema_periods=(3, 50))).argmax() == 49


def test_zero_volume_windows() -> None:
    bars = make_bars(n_days=2, zero_frac=0.0)
    bars.iloc[60:90, bars.columns.get_loc("volume")] = 0.0  # covers a session boundary
    f = compute_features(bars)
    assert (f["relvol"].iloc[79:90] == 1.0).all()
    assert np.isfinite(f["vwap"].iloc[78:90]).all()
    tp = (bars["high"] + bars["low"] + bars["close"]) / 3
    np.testing.assert_allclose(f["vwap"].iloc[78:90], (tp / bars["close"] - 1).iloc[78:90])


def test_no_lookahead() -> None:
    bars = make_bars(seed=3)
    base = compute_features(bars)
    rng = np.random.default_rng(7)
    for cut in (40, 77, 78, 150):
        pert = bars.copy()
        scale = np.exp(rng.normal(0, 0.05, len(bars) - cut - 1))
        for col in ("open", "high", "low", "close"):
            pert.iloc[cut + 1 :, pert.columns.get_loc(col)] *= scale
        pert.iloc[cut + 1 :, pert.columns.get_loc("volume")] *= 3.0
        got = compute_features(pert)
        pd.testing.assert_frame_equal(got.iloc[: cut + 1], base.iloc[: cut + 1])
        assert not got.iloc[cut + 1 :].equals(base.iloc[cut + 1 :])


def test_bad_input() -> None:
    bars = make_bars(n_days=1)
    with pytest.raises(ValueError):
        compute_features(bars.drop(columns="volume"))
    with pytest.raises(ValueError):
        compute_features(bars.iloc[::-1])
    with pytest.raises(ValueError):
        compute_features(bars, macd=(26, 12, 9))
    short = compute_features(bars.iloc[:10])
    assert short.shape == (10, len(FEATURE_NAMES)) and not valid_mask(short).any()


def test_online_equals_offline() -> None:
    bars = make_bars(n_days=4, seed=1)
    feats = compute_features(bars)
    starts = np.array([33, 40, 70, 77, 78, 100, 150])
    n_steps = len(bars) - 1 - starts.max()
    assert n_steps > 78  # every path crosses at least one session boundary
    online, _ = run_online(bars, starts, n_steps)
    expected = offline_rows(feats, starts, n_steps)
    assert online.shape == (n_steps, len(starts), len(FEATURE_NAMES))
    assert torch.isfinite(expected).all()
    assert torch.allclose(online, expected, rtol=1e-9, atol=1e-12)


def test_from_history_features_and_state() -> None:
    bars = make_bars(seed=2)
    feats = compute_features(bars)
    starts = np.array([33, 90])
    online = OnlineFeatures.from_history(bars, torch.as_tensor(starts), dtype=torch.float64)
    assert torch.allclose(online.features, torch.as_tensor(feats.to_numpy()[starts]))
    state = feature_state(bars)
    assert torch.equal(online.prev_close, torch.as_tensor(state["close"].to_numpy()[starts]))
    assert online.volumes.shape == (2, 20)
    assert online.num_features == len(FEATURE_NAMES)


def test_from_history_rejects_warmup_starts() -> None:
    bars = make_bars(n_days=1)
    with pytest.raises(ValueError, match="warm-up"):
        OnlineFeatures.from_history(bars, np.array([40, 32]))
    with pytest.raises(ValueError):
        OnlineFeatures.from_history(bars, np.array([len(bars)]))


def test_reset_where_then_continue() -> None:
    bars = make_bars(n_days=4, seed=4)
    feats = torch.tensor(compute_features(bars).to_numpy())
    close, high, low, vol = (
        torch.tensor(bars[c].to_numpy()) for c in ("close", "high", "low", "volume")
    )
    new_session = torch.as_tensor(session_start_mask(bars.index))
    pos = torch.tensor([40, 50, 60, 70])
    online = OnlineFeatures.from_history(bars, pos.numpy(), dtype=torch.float64)
    for k in range(23):  # moves the ring-buffer pointer off zero
        if k == 7:
            mask = torch.tensor([False, True, False, True])
            online.reset_where(mask, np.array([120, 35]))
            pos[mask] = torch.tensor([120, 35])
            assert torch.allclose(online.features[mask], feats[pos[mask]])
        pos = pos + 1
        out = online.step(close[pos], high[pos], low[pos], close[pos], vol[pos], new_session[pos])
        assert torch.allclose(out, feats[pos], rtol=1e-9, atol=1e-12), k


def test_online_float32_close() -> None:
    bars = make_bars(n_days=2, seed=5)
    feats = compute_features(bars)
    starts = np.array([40, 60])
    online = OnlineFeatures.from_history(bars, starts)
    assert online.features.dtype == torch.float32
    cols = {c: torch.tensor(bars[c].to_numpy(), dtype=torch.float32) for c in bars.columns}
    ns = torch.as_tensor(session_start_mask(bars.index))
    for k in range(1, 80):
        i = torch.as_tensor(starts) + k
        out = online.step(
            cols["open"][i],
            cols["high"][i],
            cols["low"][i],
            cols["close"][i],
            cols["volume"][i],
            ns[i],
        )
    exp = torch.as_tensor(feats.to_numpy()[starts + 79], dtype=torch.float32)
    assert torch.allclose(out, exp, rtol=1e-3, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_days=st.integers(3, 4),
    bars_per_day=st.sampled_from([30, 78]),
    zero_frac=st.sampled_from([0.0, 0.3, 0.9]),
    relvol_window=st.integers(1, 30),
    ema_periods=st.lists(st.integers(1, 30), min_size=1, max_size=4, unique=True),
    macd=st.tuples(st.integers(1, 8), st.integers(9, 20), st.integers(1, 9)),
)
def test_online_equals_offline_property(
    seed: int,
    n_days: int,
    bars_per_day: int,
    zero_frac: float,
    relvol_window: int,
    ema_periods: list[int],
    macd: tuple[int, int, int],
) -> None:
    bars = make_bars(
        n_days=n_days, bars_per_day=bars_per_day, freq="1min", seed=seed, zero_frac=zero_frac
    )
    params = {"ema_periods": tuple(ema_periods), "macd": macd, "relvol_window": relvol_window}
    feats = compute_features(bars, **params)
    w = warmup_bars(**params)
    rng = np.random.default_rng(seed)
    last = len(bars) - bars_per_day - 1
    assume(last > w)
    starts = np.sort(rng.integers(w, last, size=3))
    starts[0] = w
    n_steps = len(bars) - 1 - starts.max()
    online, _ = run_online(bars, starts, n_steps, **params)
    expected = offline_rows(feats, starts, n_steps)
    assert torch.isfinite(expected).all()
    assert torch.allclose(online, expected, rtol=1e-9, atol=1e-12)


def test_scaler_fit_transform_mask_and_roundtrip(tmp_path: Path) -> None:
    bars = make_bars(seed=6)
    f = compute_features(bars)
    mask = np.zeros(len(f), dtype=bool)
    mask[50:100] = True
    sc = MinMaxScaler().fit(f, mask)
    ref = f.iloc[50:100]
    np.testing.assert_allclose(sc.min_, ref.min().to_numpy())
    np.testing.assert_allclose(sc.scale_, (ref.max() - ref.min()).to_numpy())
    out = sc.transform(f)
    assert isinstance(out, pd.DataFrame) and out.shape == f.shape
    assert out.index.equals(f.index) and list(out.columns) == list(f.columns)
    inside = out.iloc[50:100].to_numpy()
    assert np.nanmin(inside) == 0.0 and np.nanmax(inside) == pytest.approx(1.0)
    assert out.isna().equals(f.isna())  # warm-up NaN stay NaN, nothing else becomes NaN
    # rows outside the mask can change freely without changing the fit
    g = f.copy()
    g.iloc[100:] *= 1000.0
    sc2 = MinMaxScaler().fit(g, mask)
    np.testing.assert_array_equal(sc.min_, sc2.min_)
    np.testing.assert_array_equal(sc.scale_, sc2.scale_)
    # NaN rows ignored when fitting on everything
    sc_all = MinMaxScaler().fit(f)
    np.testing.assert_allclose(sc_all.min_, f.iloc[33:].min().to_numpy())
    # JSON round trip, dict round trip, tensor path
    path = tmp_path / "scaler.json"
    sc.save(path)
    loaded = MinMaxScaler.load(path)
    np.testing.assert_array_equal(loaded.min_, sc.min_)
    np.testing.assert_array_equal(loaded.scale_, sc.scale_)
    assert loaded.columns == list(FEATURE_NAMES)
    pd.testing.assert_frame_equal(loaded.transform(f), out)
    again = MinMaxScaler.from_dict(sc.to_dict())
    np.testing.assert_array_equal(again.transform(f.to_numpy()), out.to_numpy())
    x = torch.tensor(f.to_numpy())
    assert torch.allclose(
        sc.transform_tensor(x), torch.tensor(out.to_numpy()), equal_nan=True, rtol=0, atol=0
    )
    x32 = sc.transform_tensor(x.float())
    assert x32.dtype == torch.float32


def test_scaler_constant_column_and_errors() -> None:
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0], "c": [np.nan, 0.0, 1.0]})
    sc = MinMaxScaler().fit(X)
    assert sc.scale_[1] == 1.0
    out = sc.transform(X)
    assert (out["b"] == 0.0).all()
    np.testing.assert_allclose(out["a"], [-1.0, 0.0, 1.0])  # NaN row 0 ignored by the fit
    with pytest.raises(RuntimeError):
        MinMaxScaler().transform(X)
    with pytest.raises(ValueError):
        sc.transform(X[["b", "a", "c"]])
    with pytest.raises(ValueError):
        MinMaxScaler().fit(X, np.zeros(3, dtype=bool))


def load_real() -> pd.DataFrame:
    """The real 5-minute QQQ bars, cleaned as the brief says (read only, never copied)."""
    df = pd.read_parquet(
        real_file(), columns=["timestamp", "open", "high", "low", "close", "volume"]
    )
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="s", utc=True).dt.tz_convert(TZ)
    df = df.set_index("timestamp").dropna(subset=["open", "high", "low", "close"])
    df["volume"] = df["volume"].fillna(0.0)
    return df.between_time("09:30", "15:55").astype(np.float64)


@pytest.mark.realdata
def test_real_file_online_equals_offline() -> None:
    bars = load_real()
    feats = compute_features(bars)  # speed: benchmarks/, never a timed assert
    assert valid_mask(feats)[warmup_bars() :].all()
    starts = np.array([1000, 40_000, len(bars) - 200])
    online, _ = run_online(bars, starts, 150)
    assert torch.allclose(online, offline_rows(feats, starts, 150), rtol=1e-9, atol=1e-12)
