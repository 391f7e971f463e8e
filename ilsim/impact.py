"""Order-flow impact learned from the bars (issue 10): signed volume, a power law with a
transient decay, and the price a strategy's own orders would have moved.

**Signed volume** by bulk volume classification: ``q_t = volume_t * (close_t - open_t) /
(high_t - low_t)`` (0 on a bar with no range), the net volume the bar's buyers initiated.

**Impact law** (a propagator: a concave transient part with an exponential kernel, and a
permanent part linear in volume): an order flow ``q_s`` (shares) moves the log price ``tau``
bars later by

    sigma_day * (Y * lam ** tau * f(q_s) + kappa * q_s / V_day),
    f(q) = sign(q) * |q / V_day| ** delta          (the power law; 0.5: the square root)
    lam  = 2 ** (-1 / half_life)

so a bar's log return is ``r_t = alpha + sigma_day [Y (f_t - (1 - lam) S_{t-1}) + kappa l_t]
+ e_t`` with ``l_t = q_t / V_day`` and the decaying sum ``S_t = lam S_{t-1} + f_t`` (reset at
each session's first bar: the transient part of yesterday's flow is spent by the open). For
fixed ``(delta, half_life)`` the law is linear in ``Y`` and ``kappa``; :func:`fit_impact_law`
grid-searches the two and solves the rest by least squares, and its intervals come from a
bootstrap over whole sessions (each session's normal equations are summed once, so a
replicate is a weighted sum).

**Why the permanent part is linear.** A first version let a share of the concave peak stay
forever. A DDPG agent trained at a portfolio of 1e10 found what such a law allows (Gatheral
2010, "No-dynamic-arbitrage and market impact"; Huberman and Stanzl 2004): buying in many small
orders moves the price permanently by far more than one order of the same total, so a trader
can push up the price it is marked at, or sell at, by splitting its buys — a profit made of its
own impact. A permanent impact linear in volume is the one that admits no such round trip; the
transient part, concave, decays within bars.

A caveat the fit carries: bulk volume classification signs a bar's volume by that bar's own
move, so the contemporaneous coefficient ``Y`` partly restates that a bar that went up had
buyers; the decay (from earlier bars' flow) is not circular. The values are therefore read as
"how bar returns scale with signed volume on these bars", set beside the literature's
square-root law (``delta`` ≈ 0.5, ``Y`` of order 1, two-thirds of the peak left at the close)
in notebook 05.

:func:`impact_path` replays a strategy's own orders through the law on top of real prices
(the impact-aware backtest of :mod:`ilsim.backtest`); :class:`ImpactState` is the same law
stepped for a batch of environments (the simulator's ``learned`` mode).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy.signal import lfilter

__all__ = [
    "ImpactLaw",
    "ImpactState",
    "fit_impact_law",
    "impact_path",
    "law_response",
    "placebo_flow",
    "signed_volume",
]

# Concave exponents only: at 1 the transient column and the linear permanent one coincide.
DELTAS: tuple[float, ...] = tuple(np.round(np.arange(0.2, 0.91, 0.05), 2))
HALF_LIVES: tuple[float, ...] = (0.5, 1, 2, 3, 5, 8, 13, 20, 39, 78, 156, 390)


def signed_volume(bars: pd.DataFrame) -> np.ndarray:
    """Bulk volume classification: volume × (close − open) / (high − low), 0 without range."""
    o, h, lo, c, v = (
        bars[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume")
    )
    rng = h - lo
    share = np.divide(c - o, rng, out=np.zeros_like(c), where=rng > 0)
    return v * np.clip(share, -1.0, 1.0)


@dataclass(frozen=True)
class ImpactLaw:
    """A fitted impact law (see the module docstring); intervals are 95 % bootstrap ranges."""

    coef: float  # Y: the transient, concave part
    exponent: float  # delta
    half_life: float  # bars, of the transient part
    permanent_coef: float  # kappa: the permanent part per unit of q / V_day (linear)
    alpha: float  # mean log return per bar beyond the flow's impact
    sigma_day: float  # std of daily log returns of the fitting bars
    volume_day: float  # median daily volume of the fitting bars
    bars_per_day: int
    n_bars: int
    r2: float
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def decay(self) -> float:
        """The transient part's factor per bar, ``lam = 2 ** (-1 / half_life)``."""
        return 2.0 ** (-1.0 / self.half_life)

    def flow(self, q):
        """``f(q) = sign(q) |q / V_day| ** delta`` for shares ``q`` (numpy or torch)."""
        x = q / self.volume_day
        if isinstance(x, torch.Tensor):
            return torch.sign(x) * x.abs().pow(self.exponent)
        return np.sign(x) * np.abs(x) ** self.exponent

    def response(self, q: float, tau) -> np.ndarray:
        """The log-price move ``tau`` bars after one order of ``q`` shares (same session)."""
        tau = np.asarray(tau, dtype=np.float64)
        transient = self.coef * self.decay**tau * self.flow(q)
        return self.sigma_day * (transient + self.permanent_coef * q / self.volume_day)

    def to_dict(self) -> dict:
        """The law's numbers (no residual arrays), JSON-ready."""
        d = asdict(self)
        d["ci"] = {k: list(v) for k, v in self.ci.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ImpactLaw:
        """The inverse of :meth:`to_dict`."""
        return cls(**{**d, "ci": {k: tuple(v) for k, v in d.get("ci", {}).items()}})

    def table(self) -> pd.DataFrame:
        """One row per parameter: estimate and 95 % interval."""
        rows = []
        for name in ("exponent", "coef", "half_life", "permanent_coef"):
            lo, hi = self.ci.get(name, (np.nan, np.nan))
            rows.append(
                {"parameter": name, "estimate": getattr(self, name), "ci_low": lo, "ci_high": hi}
            )
        return pd.DataFrame(rows)


def _decaying_sum(f: np.ndarray, new_session: np.ndarray, lam: float) -> np.ndarray:
    """``S_t = lam S_{t-1} + f_t``, restarting at each session's first bar: one filter over
    the whole series, minus what each session carries over from the one before (decayed by
    ``lam ** k`` at the session's k-th bar, which underflows harmlessly to 0)."""
    g = lfilter([1.0], [1.0, -lam], f)
    start = np.maximum.accumulate(np.where(new_session, np.arange(len(f)), 0))
    carry = np.where(start > 0, g[np.maximum(start - 1, 0)], 0.0)
    k = np.arange(len(f)) - start
    return g - carry * lam ** (k + 1.0)


def _design(f: np.ndarray, lin: np.ndarray, new_session: np.ndarray, lam: float) -> np.ndarray:
    """Columns [1, f_t − (1 − lam) S_{t−1}, l_t] (S of the previous bar in the session; 0 at
    the open): the intercept, the transient part's return and the permanent part's."""
    s = _decaying_sum(f, new_session, lam)
    prev = np.r_[0.0, s[:-1]]
    prev[new_session] = 0.0
    return np.column_stack([np.ones_like(f), f - (1.0 - lam) * prev, lin])


def _solve(xtx: np.ndarray, xty: np.ndarray, yty: float) -> tuple[np.ndarray, float]:
    """Least squares with the impact coefficients (columns 1, 2) kept >= 0: an order moves the
    price its own way. The best of the fits with either or both pinned at 0 when the free fit
    breaks a sign (two coefficients: checking every active set is exact)."""
    best, best_sse = np.zeros(len(xty)), np.inf
    for free in ((0, 1, 2), (0, 1), (0, 2), (0,)):
        idx = np.array(free)
        sub = xtx[np.ix_(idx, idx)] + 1e-12 * np.eye(len(idx))
        beta = np.zeros(len(xty))
        beta[idx] = np.linalg.solve(sub, xty[idx])
        if (beta[1:] < 0).any():
            continue
        sse = float(yty - 2 * beta @ xty + beta @ xtx @ beta)
        if sse < best_sse:
            best, best_sse = beta, sse
    return best, best_sse


def _estimate(
    xtx: np.ndarray, xty: np.ndarray, yty: np.ndarray, weights: np.ndarray
) -> tuple[int, np.ndarray]:
    """Best grid point and its coefficients for day weights (per-day sums [G, D, 3, 3] ...)."""
    a = np.einsum("d,gdij->gij", weights, xtx)
    b = np.einsum("d,gdi->gi", weights, xty)
    c = float(weights @ yty)
    best, best_sse, best_beta = -1, np.inf, np.zeros(3)
    for g in range(len(a)):
        beta, sse = _solve(a[g], b[g], c)
        if np.isfinite(sse) and sse < best_sse:
            best, best_sse, best_beta = g, sse, beta
    if best < 0:
        raise ValueError("no grid point of the impact law gives a finite fit")
    return best, best_beta


def _params(beta: np.ndarray, sigma: float) -> tuple[float, float]:
    """(Y, kappa) from the coefficients of the transient and permanent columns."""
    return float(beta[1] / sigma), float(beta[2] / sigma)


def fit_impact_law(
    bars: pd.DataFrame,
    *,
    deltas: Sequence[float] = DELTAS,
    half_lives: Sequence[float] = HALF_LIVES,
    n_boot: int = 200,
    seed: int = 0,
    flow: np.ndarray | None = None,
) -> ImpactLaw:
    """Fit the impact law on ``bars`` (consecutive sessions of one role, e.g. ``sim_train``).

    Returns with intervals from ``n_boot`` bootstrap replicates over whole sessions. The first
    bar of each session has no in-session return and is dropped from the fit. ``flow``: the
    signed volume per bar when known (default: :func:`signed_volume` of the bars).
    """
    if len(bars) < 20:
        raise ValueError(f"need at least 20 bars to fit an impact law, got {len(bars)}")
    idx = pd.DatetimeIndex(bars.index)
    days = pd.Series(idx.date)
    new_session = (days != days.shift()).to_numpy()
    day_id = days.factorize()[0]
    close = bars["close"].to_numpy(np.float64)
    r = np.r_[np.nan, np.diff(np.log(close))]
    keep = ~new_session & np.isfinite(r)
    daily = bars["close"].groupby(days.to_numpy()).last()
    day_ret = np.log(daily).diff().to_numpy()  # the first day's is NaN
    sigma = float(np.nanstd(day_ret, ddof=1)) if np.isfinite(day_ret).sum() > 1 else np.nan
    if not np.isfinite(sigma) or sigma <= 0:  # one session: scale one bar's std to a day
        sigma = float(np.nanstd(r[keep]) * math.sqrt(max(1, days.value_counts().max())))
    day_vol = bars["volume"].groupby(days.to_numpy()).sum().to_numpy()
    vday = float(np.median(day_vol))
    q = signed_volume(bars) if flow is None else np.asarray(flow, dtype=np.float64)
    if q.shape != (len(bars),):
        raise ValueError(f"flow must have one value per bar ({len(bars)}), got {q.shape}")
    n_days = day_id.max() + 1
    per_day = int(days.value_counts().max())
    # the transient part is spent by the next open: longer half-lives say nothing more
    lives = [h for h in half_lives if h <= per_day] or [min(half_lives)]
    grid = [(d, h) for d in deltas for h in lives]
    xtx = np.zeros((len(grid), n_days, 3, 3))
    xty = np.zeros((len(grid), n_days, 3))
    y = np.where(keep, r, 0.0)
    yty = np.bincount(day_id[keep], weights=y[keep] ** 2, minlength=n_days)
    designs: dict[tuple[float, float], np.ndarray] = {}
    lin = q / vday
    for g, (d, h) in enumerate(grid):
        f = np.sign(q) * np.abs(q / vday) ** d
        x = _design(f, lin, new_session, 2.0 ** (-1.0 / h))[keep]
        designs[(d, h)] = x
        for i in range(3):
            xty[g, :, i] = np.bincount(day_id[keep], weights=x[:, i] * y[keep], minlength=n_days)
            for j in range(i, 3):
                s = np.bincount(day_id[keep], weights=x[:, i] * x[:, j], minlength=n_days)
                xtx[g, :, i, j] = xtx[g, :, j, i] = s
    best, beta = _estimate(xtx, xty, yty, np.ones(n_days))
    d, h = grid[best]
    coef, perm = _params(beta, sigma)
    x = designs[(d, h)]
    fitted = x @ beta
    resid = y[keep] - fitted
    r2 = 1.0 - float(resid.var() / y[keep].var()) if y[keep].var() > 0 else np.nan
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        pick = rng.integers(0, n_days, n_days)
        w = np.bincount(pick, minlength=n_days).astype(np.float64)
        gb, bb = _estimate(xtx, xty, yty, w)
        db, hb = grid[gb]
        # the daily scales are re-measured on the resampled days too:
        # Y = a (V_b / V)^d / sigma_b and kappa = k (V_b / V) / sigma_b
        ok = np.isfinite(day_ret[pick])
        sb = float(np.std(day_ret[pick][ok], ddof=1)) if ok.sum() > 1 else sigma
        vb = float(np.median(day_vol[pick]))
        cb, pb = _params(bb, sb if sb > 0 else sigma)
        boots.append((db, cb * (vb / vday) ** db, hb, pb * vb / vday))
    b = np.array(boots) if boots else np.full((1, 4), np.nan)
    ci = {
        name: (float(np.nanpercentile(b[:, i], 2.5)), float(np.nanpercentile(b[:, i], 97.5)))
        for i, name in enumerate(("exponent", "coef", "half_life", "permanent_coef"))
    }
    return ImpactLaw(
        coef=coef,
        exponent=float(d),
        half_life=float(h),
        permanent_coef=perm,
        alpha=float(beta[0]),
        sigma_day=sigma,
        volume_day=vday,
        bars_per_day=int(days.value_counts().max()),
        n_bars=int(keep.sum()),
        r2=r2,
        ci=ci,
    )


def placebo_flow(bars: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """Signed volume with each bar's volume swapped for another bar's (a random permutation):
    the classification's own sign and the volume's level are kept, any link between volume and
    the move is cut. A law fitted on it is what the method finds in bars without impact — the
    floor the real fit must clear before it says anything about impact."""
    perm = np.random.default_rng(seed).permutation(len(bars))
    shuffled = bars.assign(volume=bars["volume"].to_numpy()[perm])
    return signed_volume(shuffled)


def law_response(law: ImpactLaw, volume_fraction: float, horizon: int) -> np.ndarray:
    """The law's own log-price path (bp) after one order of ``volume_fraction`` of daily
    volume, at 0..horizon bars (in-session, no noise): the reference the simulator's measured
    responses are set beside."""
    return 1e4 * law.response(volume_fraction * law.volume_day, np.arange(horizon + 1))


class ImpactState:
    """The law stepped for a batch of accounts or environments: the decaying flow sum ``S``
    (numpy array or torch tensor, whichever ``s0`` is). ``step(q)`` returns the log return
    that this bar's net flow ``q`` (shares) and the earlier flow add."""

    def __init__(self, law: ImpactLaw, s0) -> None:
        self.law, self.s = law, s0
        self._a = law.coef * law.sigma_day
        self._b = self._a * (1.0 - law.decay)
        self._release = self._a  # overnight: all that is left of the transient part
        self._k = law.permanent_coef * law.sigma_day / law.volume_day

    def reset_where(self, mask) -> None:
        self.s[mask] = 0.0

    def peek(self, q, new_session=None):
        """The log return :meth:`step` would give, without booking the flow."""
        b = self._b
        if new_session is not None:
            where = torch.where if isinstance(self.s, torch.Tensor) else np.where
            b = where(new_session, self._release, self._b)
        return self._a * self.law.flow(q) - b * self.s + self._k * q

    def step(self, q, new_session=None):
        """Log return of the bar whose net order flow is ``q`` shares; the decaying sum then
        includes it. ``new_session`` (bools): where this bar opens a session — the transient
        part of the earlier flow is spent overnight (released in this bar's return) and the
        sum restarts."""
        r = self.peek(q, new_session)
        f = self.law.flow(q)
        if new_session is not None:
            where = torch.where if isinstance(self.s, torch.Tensor) else np.where
            self.s = where(new_session, f, self.law.decay * self.s + f)
        else:
            self.s = self.law.decay * self.s + f
        return r


def impact_path(
    law: ImpactLaw, shares: np.ndarray, new_session: np.ndarray | None = None
) -> np.ndarray:
    """Log-price offsets [K, T] that K strategies' net orders ``shares`` [K, T] build through
    the law, each order's own bar included (no intercept, no noise)."""
    q = np.atleast_2d(np.asarray(shares, dtype=np.float64))
    st = ImpactState(law, np.zeros(q.shape[0]))
    r = np.zeros_like(q)
    for t in range(q.shape[1]):
        r[:, t] = st.step(q[:, t], None if new_session is None else np.bool_(new_session[t]))
    return np.cumsum(r, axis=1)


# The empirical laws notebook 05 checks the simulator's responses against (Bouchaud et al.,
# "Trades, Quotes and Prices", ch. 12-13; Tóth et al. 2011): the peak impact of a metaorder grows
# as the square root of its size over daily volume, with a prefactor Y of order 1, and about
# two-thirds of the peak remains once the execution is over and the day closes.
SQRT_EXPONENT = 0.5
SQRT_PREFACTOR = 1.0
REMAINING_AT_CLOSE = 2.0 / 3.0


def _loglog_slope(log_x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y on log x (NaN unless every y is positive)."""
    if len(y) < 2 or not np.all(y > 0):
        return np.nan
    return float(np.polyfit(log_x, np.log(y), 1)[0])


def response_checks(
    curves: pd.DataFrame, sigma_day: float, n_draws: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """The empirical-law checks of measured responses (``ilsim.market.order_response`` rows,
    one or more modes): per mode, the log-log slope of the immediate response (lag 0) against
    the order's share of daily volume, the peak response to a buy of 1 % of daily volume (the
    nearest size probed), the share of that peak left at the last lag (one session later),
    and whether the immediate response rises with every size step. Intervals: 95 % ranges of
    ``n_draws`` draws of the means from their sampling distributions (normal, ``se``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for mode, g in curves.groupby("impact", sort=False):
        sizes = np.sort(g["volume_fraction"].unique())
        lag0 = g[g["lag"] == 0].set_index("volume_fraction").loc[sizes]
        mean0, se0 = lag0["response_bp"].to_numpy(), lag0["se"].to_numpy()
        draws = mean0 + se0 * rng.standard_normal((n_draws, len(sizes)))
        x = np.log(sizes)
        s_draws = np.array([_loglog_slope(x, d) for d in draws])
        near = sizes[np.argmin(np.abs(np.log(sizes / 0.01)))]
        c = g[g["volume_fraction"] == near].sort_values("lag")
        k = int(np.argmax(c["response_bp"].to_numpy()))
        peak, peak_se = float(c["response_bp"].iloc[k]), float(c["se"].iloc[k])
        last, last_se = float(c["response_bp"].iloc[-1]), float(c["se"].iloc[-1])
        pd_ = peak + peak_se * rng.standard_normal(n_draws)
        ld = last + last_se * rng.standard_normal(n_draws)
        ratio = ld / np.where(np.abs(pd_) > 0, pd_, np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN draws: no response
            rows.append(
                {
                    "impact": mode,
                    "slope": _loglog_slope(x, mean0),
                    "slope_ci_low": float(np.nanpercentile(s_draws, 2.5))
                    if np.isfinite(s_draws).any()
                    else np.nan,
                    "slope_ci_high": float(np.nanpercentile(s_draws, 97.5))
                    if np.isfinite(s_draws).any()
                    else np.nan,
                    "size_for_peak": float(near),
                    "peak_bp": peak,
                    "peak_ci_low": peak - 1.96 * peak_se,
                    "peak_ci_high": peak + 1.96 * peak_se,
                    "left_at_end": last / peak if peak != 0 else np.nan,
                    "left_ci_low": float(np.nanpercentile(ratio, 2.5)),
                    "left_ci_high": float(np.nanpercentile(ratio, 97.5)),
                    "end_lag": int(c["lag"].iloc[-1]),
                    "monotone": bool(np.all(np.diff(mean0) > 0)),
                }
            )
    out = pd.DataFrame(rows)
    ref = {
        "impact": "empirical law",
        "slope": SQRT_EXPONENT,
        "size_for_peak": 0.01,
        "peak_bp": 1e4 * SQRT_PREFACTOR * sigma_day * 0.01**SQRT_EXPONENT,
        "left_at_end": REMAINING_AT_CLOSE,
        "monotone": True,
    }
    return pd.concat([out, pd.DataFrame([ref])], ignore_index=True)
