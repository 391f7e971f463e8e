"""The synthetic default market: seeded, valid bars with the stylised facts it promises."""

import numpy as np

from ilsim.params import SyntheticParams
from ilsim.regimes import segments_from_extrema
from ilsim.synthetic import generate_bars


def test_seeded_and_valid():
    p = SyntheticParams(n_regimes=6)
    a, ea = generate_bars(p, seed=3)
    b, eb = generate_bars(p, seed=3)
    c, _ = generate_bars(p, seed=4)
    assert a.equals(b) and ea == eb
    assert not a["close"].equals(c["close"])
    assert list(a.columns) == ["open", "high", "low", "close", "volume"]
    assert str(a.index.tz) == "America/New_York"
    assert (a["high"] >= a[["open", "close"]].max(axis=1)).all()
    assert (a["low"] <= a[["open", "close"]].min(axis=1)).all()
    assert (a[["open", "high", "low", "close"]] > 0).all().all() and (a["volume"] >= 0).all()
    assert a.index.is_monotonic_increasing and a.index.is_unique
    assert (a.index.strftime("%H:%M").min(), a.index.strftime("%H:%M").max()) == ("09:30", "15:59")


def test_regimes_move_the_price_their_way():
    bars, extrema = generate_bars(SyntheticParams(n_regimes=12), seed=0)
    segs = segments_from_extrema(extrema, bars)
    assert set(segs["regime"]) == {"bull", "bear", "sideways"}
    bull = segs.loc[segs.regime == "bull", "bh_return_pct"]
    bear = segs.loc[segs.regime == "bear", "bh_return_pct"]
    assert (bull > 0).all() and (bear < 0).all()
    # consecutive extrema join consistently: bull ends at a max, bear at a min
    kinds = [e["kind"] for e in extrema]
    for k0, k1, reg in zip(kinds, kinds[1:], segs["regime"], strict=False):
        assert reg == ("sideways" if k0 == k1 else ("bull" if k0 == "min" else "bear"))


def test_stylised_facts():
    bars, _ = generate_bars(SyntheticParams(n_regimes=12), seed=1)
    r = np.log(bars["close"]).diff().dropna()
    same_day = bars.index.date[1:] == bars.index.date[:-1]
    r = r[same_day]
    kurt = float(((r - r.mean()) ** 4).mean() / r.var() ** 2 - 3)
    assert kurt > 1.0  # heavy tails
    a = r.abs().to_numpy()
    acf_abs = np.corrcoef(a[:-1], a[1:])[0, 1]
    acf_raw = np.corrcoef(r.to_numpy()[:-1], r.to_numpy()[1:])[0, 1]
    assert acf_abs > 0.05 and abs(acf_raw) < 0.05  # volatility clusters, returns don't
    minute = bars.index.hour * 60 + bars.index.minute
    vol_by_minute = bars["volume"].groupby(minute).mean()
    mid = vol_by_minute.iloc[len(vol_by_minute) // 2]
    assert (
        vol_by_minute.iloc[:10].mean() > 1.3 * mid and vol_by_minute.iloc[-10:].mean() > 1.3 * mid
    )
