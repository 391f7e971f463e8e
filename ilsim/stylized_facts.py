"""A set of price paths (:class:`PathSet`: real bars cut into episodes, or a simulator's paths)
and its stylized facts, measured in one pass of sums over the paths so that the bootstrap
of :mod:`ilsim.realism` resamples sums, not paths: heavy tails, kurtosis across aggregation
horizons, skew, autocorrelations, leverage, volume-volatility correlation, intermittency and
the intraday U-shapes.

Every fact is *pooled over paths* and computed from per-path sums, so a bootstrap over paths is
one matrix product of resampling counts with the per-path sums (no recomputation per replicate):

- ``kurtosis``: excess kurtosis of all returns pooled (central moments about the pooled mean).
- ``acf_r`` / ``acf_abs``: autocorrelation of r / |r| at lags 1..K; each path is mean-removed by
  itself, then ``acf(k) = (sum x_t x_t+k / pairs(k)) / (sum x_t^2 / n)`` over all paths, where
  missing values (NaN) drop out of both the products and the counts.
- ``vol_volume_corr``: Pearson correlation of |r| and volume after standardising both within
  each path (= the count-weighted mean of the per-path correlations). Standardising per path
  keeps paths with a higher volume level (later years, simulator units) from dominating. A path
  whose volume (or |r|) is constant contributes correlation 0: a constant has no relation to
  anything, so a constant-volume baseline such as ``gbm_paths`` scores ``|0 - real|``. No
  volume at all (``volume=None``) gives NaN and a NaN distance (the fact is not measured).
- ``u_volume`` / ``u_abs``: mean volume / |r| by bar of day, each path first divided by its own
  mean (a shape, not a level), then the profile normalised to mean 1. ``u_*_ratio``: mean of
  the first and last 10 % of the session's bars over the mean of the middle 50 %. With
  ``exclude_overnight`` the |r| profile has no value at bar 0 (NaN), and bins are compared only
  where both profiles have values.
- ``skew``: skewness of all one-bar returns pooled, ``m3 / m2^1.5`` (central moments about the
  pooled mean, from the same sums as ``kurtosis``); MarS's gain/loss asymmetry at one bar.
- ``kurtosis_agg``: aggregational Gaussianity, excess kurtosis of k-bar returns for
  k = 1..K (``max_agg``, default 20), as ABIDES' kurtosis over time scales and MarS's over
  delta_t. Each path's valid one-bar returns (missing ones and, by default, overnight ones
  dropped, i.e. the overnight gap taken out of the price) are summed over non-overlapping
  blocks of k consecutive valid returns from its first one; an incomplete last block is dropped.
  Blocks are pooled over paths like ``kurtosis`` (k = 1 equals ``kurtosis``). Simple returns
  are summed (the k-bar log return to first order). I.i.d. returns give ``kurtosis / k``.
- ``leverage``: ``corr(r_t, |r_t+tau|)`` for tau = 1..K (``max_lag_lev``, default 20), MarS's
  leverage effect. Pooled like the acf: r and |r| each mean-removed within its path, then
  ``(sum r_t |r|_t+tau / pairs(tau)) / sqrt(var r * var |r|)`` with the pooled variances of
  ``acf_r`` / ``acf_abs``. Negative for equities (falls raise later volatility); 0 for i.i.d.
- ``ret_vol_corr``: returns/volatility correlation for horizons k = 1..K (``max_agg``; the
  blocks of ``kurtosis_agg``): Pearson correlation of the block return ``R = sum r`` with the
  block's realised volatility ``RV = sqrt(sum r^2)``, standardised within each path like
  ``vol_volume_corr`` (count-weighted mean of per-path correlations; constant -> 0). At k = 1
  it is ABIDES' returns/volatility correlation ``corr(r_t, |r_t|)``; for larger k it is
  negative when the falling stretches are the volatile ones. 0 for symmetric i.i.d. returns.
- ``fano``: intermittency (MarS's Fano factor of "burst" returns). A return is extreme when
  ``|r|`` exceeds the set's *own* ``fano_quantile`` (default 0.99) of its pooled valid |r| (own
  threshold, as MarS, so the fact scores how extremes cluster in time, not the tail level that
  ``kurtosis`` already scores; under resampling it stays at the whole set's value, like the
  moment shift). c = number of extremes in each complete window of ``fano_window`` (default
  12: an hour of 5-minute bars) consecutive valid returns (the blocks above);
  ``fano = var(c) / mean(c)`` over all windows of all paths (pooled, ddof 0). I.i.d. returns
  give ``1 - p`` = ``fano_quantile`` (binomial counts, p the extreme share); clustering of
  extremes (volatility clustering, intraday seasonality of |r|) gives > 1.

None of the return facts uses volume (so ``volume=None`` leaves them measured). Paths of
different length are NaN-padded rows: NaN returns drop out of every sum and count, and the
block facts (``kurtosis_agg``, ``ret_vol_corr``, ``fano``) close over them as over the overnight
return.

Overnight returns (bars with ``bar_of_day == 0``, close-to-close across the night) are dropped
by default (``exclude_overnight=True``) from every return-based fact.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

_DAY_NS = 86_400 * 10**9


@dataclass
class PathSet:
    """P paths of T bars: one-bar simple returns, optional volume, and each bar's bar of day.

    ``returns`` [P, T] (NaN = missing), ``volume`` [P, T] or None, ``bar_of_day`` [T] or [P, T]
    (0 = the session's first bar). ``bars_per_day`` (optional) is the full-session bar count.
    """

    returns: np.ndarray
    volume: np.ndarray | None
    bar_of_day: np.ndarray
    bars_per_day: int | None = None

    def __post_init__(self) -> None:
        self.returns = np.atleast_2d(np.asarray(self.returns, dtype=np.float64))
        shape = self.returns.shape
        if self.volume is not None:
            self.volume = np.atleast_2d(np.asarray(self.volume, dtype=np.float64))
            if self.volume.shape != shape:
                raise ValueError(f"volume shape {self.volume.shape} != returns shape {shape}")
        bod = np.asarray(self.bar_of_day)
        if bod.shape not in (shape, shape[1:]):
            raise ValueError(f"bar_of_day shape {bod.shape} fits neither {shape} nor {shape[1:]}")
        if bod.size and (bod.min() < 0 or not np.array_equal(bod, np.round(bod))):
            raise ValueError("bar_of_day must hold non-negative integers")
        self.bar_of_day = bod.astype(np.int64)

    @property
    def n_paths(self) -> int:
        """Number of paths P."""
        return self.returns.shape[0]

    @property
    def length(self) -> int:
        """Bars per path T."""
        return self.returns.shape[1]

    def bod2d(self) -> np.ndarray:
        """``bar_of_day`` broadcast to [P, T]."""
        return np.broadcast_to(self.bar_of_day, self.returns.shape)

    def take(self, idx: np.ndarray) -> PathSet:
        """The sub-set of paths ``idx`` (e.g. one half of a split)."""
        bod = self.bar_of_day[idx] if self.bar_of_day.ndim == 2 else self.bar_of_day
        vol = None if self.volume is None else self.volume[idx]
        return PathSet(self.returns[idx], vol, bod, self.bars_per_day)

    @classmethod
    def from_bars(
        cls,
        bars: pd.DataFrame,
        segment_slices: list[tuple[int, int]] | None,
        length: int,
    ) -> PathSet:
        """Cut canonical bars into non-overlapping windows of ``length`` bars.

        ``segment_slices`` are inclusive ``[first, last]`` bar positions (e.g. the backtest
        segments' ``first_bar``/``last_bar``); None means the whole frame. Each range gives
        ``(last - first + 1) // length`` consecutive windows from ``first``; the remainder is
        dropped. A return whose previous bar lies outside its range is NaN; the first return of
        a day (bar_of_day 0) is the overnight one. Bar of day comes from the clock time, so a
        missing bar does not shift the bars after it.
        """
        if length < 2:
            raise ValueError("length must be >= 2")
        n = len(bars)
        close = bars["close"].to_numpy(dtype=np.float64)
        volume = bars["volume"].to_numpy(dtype=np.float64)
        ret = np.full(n, np.nan)
        ret[1:] = close[1:] / close[:-1] - 1.0
        bod = _bar_of_day(bars.index)
        ranges = [(0, n - 1)] if segment_slices is None else list(segment_slices)
        starts: list[np.ndarray] = []
        first_of_range: list[np.ndarray] = []
        for first, last in ranges:
            first, last = int(first), int(last)
            if not 0 <= first <= last < n:
                raise ValueError(f"segment range [{first}, {last}] outside the {n} bars")
            k = (last - first + 1) // length
            s = first + length * np.arange(k)
            starts.append(s)
            first_of_range.append(s == first)
        if not starts or sum(len(s) for s in starts) == 0:
            raise ValueError(f"no window of {length} bars fits in the given ranges")
        s = np.concatenate(starts)
        idx = s[:, None] + np.arange(length)
        r = ret[idx]
        r[np.concatenate(first_of_range), 0] = np.nan
        return cls(r, volume[idx], bod[idx], _full_day_bars(bod))

    @classmethod
    def from_prices(
        cls,
        close: np.ndarray,
        volume: np.ndarray | None,
        bar_of_day: np.ndarray,
        bars_per_day: int | None = None,
    ) -> PathSet:
        """Path set from close prices [P, T] (e.g. simulator output); the first return is NaN."""
        close = np.atleast_2d(np.asarray(close, dtype=np.float64))
        r = np.full(close.shape, np.nan)
        r[:, 1:] = close[:, 1:] / close[:, :-1] - 1.0
        return cls(r, volume, bar_of_day, bars_per_day)


def _bar_of_day(index: pd.DatetimeIndex) -> np.ndarray:
    """Position of each bar in its session from the wall-clock time (mode start and step)."""
    wall = index.tz_localize(None) if index.tz is not None else index
    ns = wall.as_unit("ns").asi8
    day, tod = ns // _DAY_NS, ns % _DAY_NS
    new_day = np.r_[True, day[1:] != day[:-1]]
    start = _mode(tod[new_day])
    steps = np.diff(ns)[~new_day[1:]]
    step = _mode(steps[steps > 0]) if np.any(steps > 0) else 1
    return np.maximum(np.rint((tod - start) / step), 0).astype(np.int64)


def _mode(x: np.ndarray) -> int:
    """Most common value (ties: the smallest)."""
    vals, counts = np.unique(x, return_counts=True)
    return int(vals[np.argmax(counts)])


def _full_day_bars(bod: np.ndarray) -> int:
    """Bars in a full session: the most common per-day maximum bar of day, plus 1."""
    ends = np.r_[bod[1:] <= bod[:-1], True]
    return _mode(bod[ends]) + 1 if bod.size else 0


@dataclass(frozen=True)
class _Layout:
    """Column layout of the per-path sums matrix."""

    k_r: int
    k_abs: int
    n_bins: int
    has_volume: bool
    k_agg: int = 20
    k_lev: int = 20
    fano_window: int = 12
    fano_quantile: float = 0.99

    def slices(self) -> dict[str, slice]:
        """Column slice of every block of sums."""
        sizes = {
            "mom": 5,  # n, sum y, y^2, y^3, y^4  (y = r - shift)
            "r_base": 2,  # n, sum x^2 of demeaned r
            "r_prod": self.k_r,
            "r_pairs": self.k_r,
            "a_base": 2,
            "a_prod": self.k_abs,
            "a_pairs": self.k_abs,
            "corr": 2,  # n * rho, n
            "uv_sum": self.n_bins,
            "uv_cnt": self.n_bins,
            "ua_sum": self.n_bins,
            "ua_cnt": self.n_bins,
            "agg_mom": 5 * self.k_agg,  # per horizon k: n, sum y, y^2, y^3, y^4 of block sums
            "lev_prod": self.k_lev,
            "lev_pairs": self.k_lev,
            "rv_corr": 2 * self.k_agg,  # per horizon k: n * rho, n
            "fano": 3,  # windows, sum count, sum count^2
        }
        out, pos = {}, 0
        for name, size in sizes.items():
            out[name] = slice(pos, pos + size)
            pos += size
        return out

    @property
    def width(self) -> int:
        """Number of columns."""
        return max(s.stop for s in self.slices().values())


def _demean(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x minus its path mean (0 where missing) and the finite mask."""
    m = np.isfinite(x)
    n = m.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(n > 0, np.where(m, x, 0.0).sum(1) / np.maximum(n, 1), 0.0)
    return np.where(m, x - mu[:, None], 0.0), m


def _lag_sums(
    x: tuple[np.ndarray, np.ndarray], y: tuple[np.ndarray, np.ndarray], max_lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-path lag products ``sum_t zx_t zy_t+k`` and pair counts [P, K] from the ``_demean``
    outputs ``x = (zx, mx)`` and ``y = (zy, my)``."""
    zx, mx = x[0], x[1].astype(np.float64)
    zy, my = y[0], y[1].astype(np.float64)
    p, t = zx.shape
    prod = np.zeros((p, max_lag))
    pairs = np.zeros((p, max_lag))
    for k in range(1, min(max_lag, t - 1) + 1):
        prod[:, k - 1] = np.einsum("ij,ij->i", zx[:, :-k], zy[:, k:])
        pairs[:, k - 1] = np.einsum("ij,ij->i", mx[:, :-k], my[:, k:])
    return prod, pairs


def _acf_sums(x: np.ndarray, max_lag: int) -> tuple[np.ndarray, ...]:
    """Per-path (n, sum x^2, lag products [P, K], lag pair counts [P, K]) of mean-removed x."""
    z, m = zm = _demean(x)
    prod, pairs = _lag_sums(zm, zm, max_lag)
    return m.sum(1).astype(np.float64), (z * z).sum(1), prod, pairs


def _compress(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each path's finite values moved to the front in order (0 after them), and their count."""
    m = np.isfinite(x)
    order = np.argsort(~m, axis=1, kind="stable")
    xc = np.take_along_axis(np.where(m, x, 0.0), order, axis=1)
    return xc, m.sum(1)


def _blocks(xc: np.ndarray, n: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums of non-overlapping blocks of k compressed values [P, T // k] and the complete mask."""
    p, t = xc.shape
    nb = t // k
    sums = xc[:, : nb * k].reshape(p, nb, k).sum(-1)
    return sums, np.arange(nb)[None, :] < (n // k)[:, None]


def _moment_sums(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-path (n, sum y, y^2, y^3, y^4) over the entries in mask m, [P, 5]."""
    y = np.where(m, y, 0.0)
    y2 = y * y
    return np.column_stack([m.sum(1), y.sum(1), y2.sum(1), (y2 * y).sum(1), (y2 * y2).sum(1)])


def _agg_sums(r: np.ndarray, shift: float, k_agg: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-path moment sums [P, 5 * K] of the k-bar aggregated returns (about ``k * shift``)
    and the sums [P, 2 * K] of their correlation with the block's realised volatility."""
    rc, n = _compress(r)
    sq = rc * rc
    mom = np.zeros((r.shape[0], 5 * k_agg))
    corr = np.zeros((r.shape[0], 2 * k_agg))
    for k in range(1, k_agg + 1):
        agg, ok = _blocks(rc, n, k)
        mom[:, 5 * (k - 1) : 5 * k] = _moment_sums(agg - k * shift, ok)
        rv = np.sqrt(_blocks(sq, n, k)[0])
        corr[:, 2 * (k - 1) : 2 * k] = _corr_sums(
            np.where(ok, agg, np.nan), np.where(ok, rv, np.nan)
        )
    return mom, corr


def _fano_sums(a: np.ndarray, threshold: float, window: int) -> np.ndarray:
    """Per-path (windows, sum c, sum c^2) of c = the number of |r| > threshold in each complete
    window of ``window`` consecutive valid returns."""
    ac, n = _compress(a)
    c, ok = _blocks((ac > threshold).astype(np.float64), n, window)
    c = np.where(ok, c, 0.0)
    return np.column_stack([ok.sum(1), c.sum(1), (c * c).sum(1)])


def _profile_sums(x: np.ndarray, bod: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-path sums and counts [P, n_bins] by bar of day of x divided by its path mean."""
    p = x.shape[0]
    m = np.isfinite(x) & (bod < n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(m, x, 0.0).sum(1) / m.sum(1)
    ok = m & (np.isfinite(mean) & (mean > 0))[:, None]
    y = np.where(ok, x / np.where(ok, mean[:, None], 1.0), 0.0)
    flat = (np.arange(p)[:, None] * n_bins + np.where(ok, bod, 0)).ravel()
    sums = np.bincount(flat, weights=y.ravel(), minlength=p * n_bins).reshape(p, n_bins)
    cnts = np.bincount(flat, weights=ok.ravel().astype(np.float64), minlength=p * n_bins)
    return sums, cnts.reshape(p, n_bins)


def _corr_sums(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per-path (n * rho, n) of |r| and volume; a constant series counts as rho = 0."""
    m = np.isfinite(a) & np.isfinite(v)
    n = m.sum(1).astype(np.float64)
    nn = np.maximum(n, 1.0)
    ac = np.where(m, a - np.where(m, a, 0.0).sum(1, keepdims=True) / nn[:, None], 0.0)
    vc = np.where(m, v - np.where(m, v, 0.0).sum(1, keepdims=True) / nn[:, None], 0.0)
    sxy, sxx, syy = (ac * vc).sum(1), (ac * ac).sum(1), (vc * vc).sum(1)

    def floor(x: np.ndarray) -> np.ndarray:
        # round-off leaves an exactly constant series a tiny variance, not 0
        return 1e-20 * nn * (np.abs(np.where(m, x, 0.0)).max(1) ** 2) + 1e-300

    ok = (sxx > floor(a)) & (syy > floor(v))
    rho = np.where(ok, sxy / np.sqrt(np.where(ok, sxx * syy, 1.0)), 0.0)
    return np.column_stack([n * rho, n])


def _path_sums(ps: PathSet, layout: _Layout, exclude_overnight: bool) -> np.ndarray:
    """The per-path sums matrix [P, layout.width] of everything the facts need.

    Moments are taken about the set's mean return (kept fixed under resampling), which keeps
    the raw-moment sums well conditioned; likewise the Fano threshold (the set's own quantile
    of |r|) is fixed at the whole set's value.
    """
    sl = layout.slices()
    out = np.zeros((ps.n_paths, layout.width))
    bod = ps.bod2d()
    r = np.where(bod == 0, np.nan, ps.returns) if exclude_overnight else ps.returns.copy()
    r[~np.isfinite(r)] = np.nan
    a = np.abs(r)
    m = np.isfinite(r)
    shift = float(r[m].mean()) if m.any() else 0.0
    out[:, sl["mom"]] = _moment_sums(r - shift, m)
    for key, x, k in (("r", r, layout.k_r), ("a", a, layout.k_abs)):
        n, ss, prod, pairs = _acf_sums(x, k)
        out[:, sl[f"{key}_base"]] = np.column_stack([n, ss])
        out[:, sl[f"{key}_prod"]] = prod
        out[:, sl[f"{key}_pairs"]] = pairs
    if layout.has_volume and ps.volume is not None:
        out[:, sl["corr"]] = _corr_sums(a, ps.volume)
        out[:, sl["uv_sum"]], out[:, sl["uv_cnt"]] = _profile_sums(ps.volume, bod, layout.n_bins)
    out[:, sl["ua_sum"]], out[:, sl["ua_cnt"]] = _profile_sums(a, bod, layout.n_bins)
    out[:, sl["agg_mom"]], out[:, sl["rv_corr"]] = _agg_sums(r, shift, layout.k_agg)
    out[:, sl["lev_prod"]], out[:, sl["lev_pairs"]] = _lag_sums(
        _demean(r), _demean(a), layout.k_lev
    )
    thr = float(np.quantile(a[m], layout.fano_quantile)) if m.any() else np.inf
    out[:, sl["fano"]] = _fano_sums(a, thr, layout.fano_window)
    return out


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b with NaN where b is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)


def _u_ratio(profile: np.ndarray) -> np.ndarray:
    """Mean of the first and last 10 % of bins over the mean of the middle 50 % (last axis)."""
    nb = profile.shape[-1]
    if nb < 4:
        return np.full(profile.shape[:-1], np.nan)
    e = max(1, round(0.1 * nb))
    lo, hi = int(np.floor(0.25 * nb)), int(np.ceil(0.75 * nb))
    edges = np.concatenate([profile[..., :e], profile[..., nb - e :]], axis=-1)
    with np.errstate(invalid="ignore"), _quiet():
        return np.nanmean(edges, -1) / np.nanmean(profile[..., lo:hi], -1)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the RuntimeWarnings of nan-reductions over all-NaN slices."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _facts_from_sums(s: np.ndarray, layout: _Layout) -> dict[str, np.ndarray]:
    """Facts from pooled sums ``s`` [..., width]; vectorised over leading (bootstrap) axes."""
    sl = layout.slices()
    mom = s[..., sl["mom"]]
    n = mom[..., 0]
    skew, kurt = _shape(mom)
    facts: dict[str, np.ndarray] = {"kurtosis": kurt, "skew": skew}
    agg = s[..., sl["agg_mom"]].reshape(*s.shape[:-1], layout.k_agg, 5)
    facts["kurtosis_agg"] = _shape(agg)[1]
    for key, name in (("r", "acf_r"), ("a", "acf_abs")):
        base = s[..., sl[f"{key}_base"]]
        var = _div(base[..., 1], base[..., 0])
        cov = _div(s[..., sl[f"{key}_prod"]], s[..., sl[f"{key}_pairs"]])
        facts[name] = _div(cov, var[..., None])
    corr = s[..., sl["corr"]]
    facts["vol_volume_corr"] = (
        _div(corr[..., 0], corr[..., 1]) if layout.has_volume else np.full(n.shape, np.nan)
    )
    for key, name in (("uv", "u_volume"), ("ua", "u_abs")):
        prof = _div(s[..., sl[f"{key}_sum"]], s[..., sl[f"{key}_cnt"]])
        if name == "u_volume" and not layout.has_volume:
            prof = np.full(prof.shape, np.nan)
        with _quiet():
            prof = _div(prof, np.nanmean(prof, -1, keepdims=True))
        facts[name] = prof
        facts[f"{name}_ratio"] = _u_ratio(prof)
    var_r = _div(s[..., sl["r_base"]][..., 1], s[..., sl["r_base"]][..., 0])
    var_a = _div(s[..., sl["a_base"]][..., 1], s[..., sl["a_base"]][..., 0])
    cov = _div(s[..., sl["lev_prod"]], s[..., sl["lev_pairs"]])
    with np.errstate(invalid="ignore"):
        facts["leverage"] = _div(cov, np.sqrt(var_r * var_a)[..., None])
    rv = s[..., sl["rv_corr"]].reshape(*s.shape[:-1], layout.k_agg, 2)
    facts["ret_vol_corr"] = _div(rv[..., 0], rv[..., 1])
    nw, c1, c2 = np.moveaxis(s[..., sl["fano"]], -1, 0)
    mean_c = _div(c1, nw)
    facts["fano"] = _div(_div(c2, nw) - mean_c**2, mean_c)
    return facts


def _shape(mom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skewness and excess kurtosis from moment sums (n, sum y, y^2, y^3, y^4) [..., 5]."""
    n, s1, s2, s3, s4 = np.moveaxis(mom, -1, 0)
    d, e2, e3 = _div(s1, n), _div(s2, n), _div(s3, n)
    m2 = e2 - d**2
    m3 = e3 - 3 * d * e2 + 2 * d**3
    m4 = _div(s4, n) - 4 * d * e3 + 6 * d**2 * e2 - 3 * d**4
    with np.errstate(invalid="ignore"):
        return _div(m3, m2**1.5), _div(m4, m2**2) - 3.0


def _layout_for(
    ps: PathSet, k_r: int, k_abs: int, bars_per_day: int | None, **extra: float
) -> _Layout:
    """Layout for a path set (bars per day: given, the set's own, or max bar of day + 1)."""
    nb = bars_per_day or ps.bars_per_day or int(ps.bar_of_day.max(initial=-1)) + 1
    return _Layout(k_r, k_abs, int(nb), ps.volume is not None, **_checked(**extra))


def _checked(
    k_agg: int, k_lev: int, fano_window: int, fano_quantile: float
) -> dict[str, int | float]:
    """Validated settings of the aggregation, leverage and intermittency facts."""
    if min(k_agg, k_lev, fano_window) < 1:
        raise ValueError("max_agg, max_lag_lev and fano_window must be >= 1")
    if not 0.0 < fano_quantile < 1.0:
        raise ValueError("fano_quantile must lie in (0, 1)")
    return {
        "k_agg": int(k_agg),
        "k_lev": int(k_lev),
        "fano_window": int(fano_window),
        "fano_quantile": float(fano_quantile),
    }


def _scalarise(facts: dict[str, np.ndarray]) -> dict[str, np.ndarray | float]:
    """0-d arrays to floats."""
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in facts.items()}


def stylized_facts(
    ps: PathSet,
    max_lag_r: int = 10,
    max_lag_abs: int = 20,
    bars_per_day: int | None = None,
    exclude_overnight: bool = True,
    max_agg: int = 20,
    max_lag_lev: int = 20,
    fano_window: int = 12,
    fano_quantile: float = 0.99,
) -> dict[str, np.ndarray | float]:
    """Stylized facts of a path set, pooled over its paths (see the module docstring).

    Keys: ``kurtosis`` (excess), ``acf_r`` [max_lag_r], ``acf_abs`` [max_lag_abs],
    ``vol_volume_corr``, ``u_volume`` / ``u_abs`` [bars_per_day] (mean 1) and their
    ``u_volume_ratio`` / ``u_abs_ratio``; ``skew``, ``kurtosis_agg`` [max_agg] (excess kurtosis
    of k-bar returns, k = 1..max_agg), ``leverage`` [max_lag_lev], ``ret_vol_corr`` [max_agg]
    and ``fano`` (windows of ``fano_window`` bars, extremes beyond the set's own
    ``fano_quantile`` of |r|). ``bars_per_day`` defaults to the set's own value or its largest
    bar of day + 1.
    """
    layout = _layout_for(
        ps,
        max_lag_r,
        max_lag_abs,
        bars_per_day,
        k_agg=max_agg,
        k_lev=max_lag_lev,
        fano_window=fano_window,
        fano_quantile=fano_quantile,
    )
    sums = _path_sums(ps, layout, exclude_overnight).sum(0)
    return _scalarise(_facts_from_sums(sums, layout))
