"""The same features one bar at a time for N price paths at once (torch): the simulator's
observations, equal to the offline features on the same path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ilsim.features.offline import (
    DEFAULT_EMA_PERIODS,
    DEFAULT_MACD,
    DEFAULT_RELVOL_WINDOW,
    PRICE_COLUMNS,
    _check_params,
    compute_features,
    feature_names,
    feature_state,
    indicator_kwargs,
    session_start_mask,
    warmup_bars,
)


class OnlineFeatures:
    """Incremental features of N price paths at once (one new bar per path per :meth:`step`).

    State per path: previous close; the EMAs (feature periods, then MACD fast and slow);
    the MACD signal EMA; the session's cumulative typical*volume and volume; a ring buffer of
    the last ``relvol_window`` volumes. Build it with :meth:`from_history`, which takes the
    offline state of real bars so that the continuation equals :func:`compute_features`.
    """

    def __init__(
        self,
        n_envs: int,
        *,
        ema_periods: Sequence[int] = DEFAULT_EMA_PERIODS,
        macd: Sequence[int] = DEFAULT_MACD,
        relvol_window: int = DEFAULT_RELVOL_WINDOW,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """Allocate zero state for ``n_envs`` paths; use :meth:`from_history` to fill it."""
        self.ema_periods, self.macd, self.relvol_window = _check_params(
            ema_periods, macd, relvol_window
        )
        self.names = feature_names(self.ema_periods)
        self.n_envs = int(n_envs)
        self.device = torch.device(device)
        self.dtype = dtype
        fast, slow, signal = self.macd
        spans = [*self.ema_periods, fast, slow]
        kw: dict[str, Any] = {"device": self.device, "dtype": dtype}
        self._alpha = torch.tensor([2.0 / (s + 1.0) for s in spans], **kw)
        self._one_minus_alpha = 1.0 - self._alpha
        self._sig_alpha = 2.0 / (signal + 1.0)
        n, k, w = self.n_envs, len(spans), self.relvol_window
        self.prev_close = torch.zeros(n, **kw)
        self.ema = torch.zeros(n, k, **kw)  # [N, len(ema_periods) + 2]: features, fast, slow
        self.signal = torch.zeros(n, **kw)
        self.session_pv = torch.zeros(n, **kw)
        self.session_volume = torch.zeros(n, **kw)
        self.volumes = torch.zeros(n, w, **kw)  # ring buffer, slot ``_pos`` is the oldest
        self._pos = 0
        self.features = torch.full((n, len(self.names)), float("nan"), **kw)
        self._hist: dict[str, torch.Tensor] | None = None
        self._hist_len = 0

    @property
    def num_features(self) -> int:
        """Number of features per path."""
        return len(self.names)

    @classmethod
    def from_history(
        cls,
        bars: pd.DataFrame,
        starts: np.ndarray | torch.Tensor | Sequence[int],
        *,
        ema_periods: Sequence[int] = DEFAULT_EMA_PERIODS,
        macd: Sequence[int] = DEFAULT_MACD,
        relvol_window: int = DEFAULT_RELVOL_WINDOW,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> OnlineFeatures:
        """State of N paths, path i positioned right after bar ``starts[i]`` of ``bars``.

        ``features`` then holds the offline features of those bars. The history is kept on
        the device, so :meth:`reset_where` can restart paths anywhere in it cheaply.
        """
        starts_np = cls._as_index_array(starts)
        obj = cls(
            len(starts_np),
            ema_periods=ema_periods,
            macd=macd,
            relvol_window=relvol_window,
            device=device,
            dtype=dtype,
        )
        obj.set_history(bars)
        obj.reset_where(torch.ones(len(starts_np), dtype=torch.bool), starts_np)
        return obj

    @staticmethod
    def _as_index_array(starts: np.ndarray | torch.Tensor | Sequence[int]) -> np.ndarray:
        """Start indices as a 1-D int64 numpy array."""
        if isinstance(starts, torch.Tensor):
            starts = starts.detach().cpu().numpy()
        arr = np.asarray(starts)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError("starts must be a 1-D array of integer bar indices")
        return arr.astype(np.int64)

    # what changes while stepping (an exact resume: ilsim.market.VectorMarket.state_dict)
    STATE: tuple[str, ...] = (
        "prev_close",
        "ema",
        "signal",
        "session_pv",
        "session_volume",
        "volumes",
        "features",
        "_pos",
    )

    def state_dict(self) -> dict[str, Any]:
        """Copies of the running state (tensors detached), keyed by attribute."""
        return {
            k: v.detach().clone() if isinstance(v, torch.Tensor) else v
            for k in self.STATE
            for v in [getattr(self, k)]
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        """Restore what :meth:`state_dict` saved (on ``device``, default this one's)."""
        for k in self.STATE:
            v = state[k]
            if isinstance(v, torch.Tensor):
                v = v.detach().clone().to(device or self.device)
            setattr(self, k, v)

    def set_history(self, bars: pd.DataFrame) -> None:
        """Compute the offline state and features of ``bars`` once and keep them on the device."""
        state = feature_state(bars, ema_periods=self.ema_periods, macd=self.macd)
        feats = compute_features(
            bars, ema_periods=self.ema_periods, macd=self.macd, relvol_window=self.relvol_window
        )
        kw: dict[str, Any] = {"device": self.device, "dtype": self.dtype}
        ema_cols = [*(f"ema_{p}" for p in self.ema_periods), "macd_fast", "macd_slow"]
        self._hist = {
            "close": torch.tensor(state["close"].to_numpy(), **kw),
            "volume": torch.tensor(state["volume"].to_numpy(), **kw),
            "ema": torch.tensor(state[ema_cols].to_numpy(), **kw),
            "signal": torch.tensor(state["macd_signal"].to_numpy(), **kw),
            "session_pv": torch.tensor(state["session_pv"].to_numpy(), **kw),
            "session_volume": torch.tensor(state["session_volume"].to_numpy(), **kw),
            "features": torch.tensor(feats.to_numpy(), **kw),
        }
        self._hist_len = len(bars)
        self._min_start = warmup_bars(self.ema_periods, self.macd, self.relvol_window)

    def reset_where(
        self,
        mask: torch.Tensor | np.ndarray,
        starts: np.ndarray | torch.Tensor | Sequence[int],
        bars: pd.DataFrame | None = None,
    ) -> None:
        """Re-initialise the paths where ``mask`` is True to the state after bar ``starts``.

        ``starts`` has one index per True entry of ``mask`` (or one per path, then only the
        masked ones are used). ``bars`` replaces the stored history first, if given.
        """
        if bars is not None:
            self.set_history(bars)
        if self._hist is None:
            raise RuntimeError("no history: call set_history(bars) or use from_history")
        mask_t = torch.as_tensor(mask, dtype=torch.bool).reshape(-1)
        if mask_t.shape[0] != self.n_envs:
            raise ValueError(f"mask has {mask_t.shape[0]} entries, expected {self.n_envs}")
        s = self._as_index_array(starts)
        k = int(mask_t.sum())
        if len(s) == self.n_envs and k != self.n_envs:
            s = s[mask_t.numpy()]
        if len(s) != k:
            raise ValueError(f"{len(s)} starts for {k} masked paths")
        if k == 0:
            return
        bad = (s < self._min_start) | (s >= self._hist_len)
        if bad.any():
            raise ValueError(
                f"starts must lie in [{self._min_start}, {self._hist_len - 1}] (after the "
                f"{self._min_start}-bar warm-up), got {s[bad][:5].tolist()}"
            )
        idx = torch.as_tensor(s, device=self.device)
        rows = torch.nonzero(mask_t, as_tuple=True)[0].to(self.device)
        h = self._hist
        self.prev_close[rows] = h["close"][idx]
        self.ema[rows] = h["ema"][idx]
        self.signal[rows] = h["signal"][idx]
        self.session_pv[rows] = h["session_pv"][idx]
        self.session_volume[rows] = h["session_volume"][idx]
        self.features[rows] = h["features"][idx]
        w = self.relvol_window
        # slot j holds the volume of age rank (j - pos) mod w, 0 = oldest = bar s - (w - 1)
        rank = (torch.arange(w, device=self.device) - self._pos) % w
        self.volumes[rows] = h["volume"][idx[:, None] - (w - 1) + rank[None, :]]

    def step(
        self,
        open: torch.Tensor,
        high: torch.Tensor,
        low: torch.Tensor,
        close: torch.Tensor,
        volume: torch.Tensor,
        new_session: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Consume one new bar per path (tensors [N]) and return its features [N, F].

        ``new_session`` ([N] bool) marks bars that open a new session: the VWAP sums restart.
        ``open`` is accepted for symmetry with the bars but no feature uses it.
        """
        del open
        kw: dict[str, Any] = {"device": self.device, "dtype": self.dtype}
        high, low, close, volume = (torch.as_tensor(x, **kw) for x in (high, low, close, volume))

        ret = close / self.prev_close - 1.0
        self.prev_close = close.clone()
        c = close[:, None]
        self.ema = self._alpha * c + self._one_minus_alpha * self.ema
        n_ema = len(self.ema_periods)
        ema_rel = self.ema[:, :n_ema] / c - 1.0
        line = self.ema[:, n_ema] - self.ema[:, n_ema + 1]
        a = self._sig_alpha
        self.signal = a * line + (1.0 - a) * self.signal

        typical = (high + low + close) / 3.0
        if new_session is not None:
            keep = ~torch.as_tensor(new_session, dtype=torch.bool, device=self.device)
            self.session_pv = self.session_pv * keep
            self.session_volume = self.session_volume * keep
        self.session_pv = self.session_pv + typical * volume
        self.session_volume = self.session_volume + volume
        has_vol = self.session_volume > 0
        vwap = torch.where(has_vol, self.session_pv / self.session_volume, typical)

        self.volumes[:, self._pos] = volume
        self._pos = (self._pos + 1) % self.relvol_window
        mean = self.volumes.sum(dim=1) / self.relvol_window
        relvol = torch.where(mean > 0, volume / mean, torch.ones_like(mean))

        self.features = torch.cat(
            [
                ret[:, None],
                ema_rel,
                (line / close)[:, None],
                (self.signal / close)[:, None],
                (vwap / close - 1.0)[:, None],
                relvol[:, None],
            ],
            dim=1,
        )
        return self.features


def online_offline_gap(
    bars: pd.DataFrame, params: Any, *, n_envs: int = 4, steps: int = 300, seed: int = 0
) -> float:
    """Largest |online - offline| feature difference when ``n_envs`` online paths, started at
    random points of ``bars``, are fed the following ``steps`` real bars (float64).

    ``params`` is a :class:`ilsim.params.FeatureParams`. A number near 1e-12 shows the
    simulator's features are the offline ones.
    """
    kw = indicator_kwargs(params)
    offline = compute_features(bars, **kw).to_numpy()
    lo = warmup_bars(**kw)
    steps = min(steps, len(bars) - lo - 1)
    rng = np.random.default_rng(seed)
    starts = rng.integers(lo, len(bars) - steps, size=n_envs)
    online = OnlineFeatures.from_history(bars, starts, dtype=torch.float64, **kw)
    cols = {c: torch.tensor(bars[c].to_numpy()) for c in PRICE_COLUMNS}
    new_session = torch.tensor(session_start_mask(bars.index))
    gap = 0.0
    for k in range(1, steps + 1):
        i = torch.as_tensor(starts + k)
        out = online.step(*(cols[c][i] for c in PRICE_COLUMNS), new_session=new_session[i])
        gap = max(gap, float(np.nanmax(np.abs(out.numpy() - offline[starts + k]))))
    return gap
