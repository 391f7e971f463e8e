"""Min-max scaling of the features, fitted on the training rows only and saved as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch


class MinMaxScaler:
    """Column-wise min-max scaling, fitted once (on the IL-training rows) and applied anywhere.

    ``(x - min) / (max - min)``; values outside [0, 1] are kept (data outside the fit range).
    A constant column gets range 1. Rows with any NaN are ignored by :meth:`fit` and stay NaN.
    """

    def __init__(self) -> None:
        self.columns: list[str] | None = None
        self.min_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self._tensor_cache: dict[tuple[str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def fitted(self) -> bool:
        """Whether min and scale are set."""
        return self.min_ is not None

    def fit(self, X: pd.DataFrame | np.ndarray, mask: np.ndarray | None = None) -> MinMaxScaler:
        """Fit min and range on the rows selected by ``mask`` (all rows if None), NaN rows out."""
        values = np.asarray(X, dtype=np.float64)
        if values.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {values.shape}")
        rows = np.isfinite(values).all(axis=1)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != rows.shape:
                raise ValueError(f"mask shape {mask.shape} != rows {rows.shape}")
            rows &= mask
        if not rows.any():
            raise ValueError("no finite rows to fit the scaler on")
        lo = values[rows].min(axis=0)
        rng = values[rows].max(axis=0) - lo
        self.min_ = lo
        self.scale_ = np.where(rng > 0, rng, 1.0)
        self.columns = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
        self._tensor_cache.clear()
        return self

    def _require_fit(self) -> tuple[np.ndarray, np.ndarray]:
        """Fitted (min, scale), or a clear error."""
        if self.min_ is None or self.scale_ is None:
            raise RuntimeError("MinMaxScaler is not fitted")
        return self.min_, self.scale_

    def transform(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """Scale ``X`` (same shape, same type; a DataFrame must have the fitted columns)."""
        lo, scale = self._require_fit()
        if isinstance(X, pd.DataFrame):
            if self.columns is not None and [str(c) for c in X.columns] != self.columns:
                raise ValueError(f"columns {list(X.columns)} != fitted {self.columns}")
            values = (X.to_numpy(dtype=np.float64) - lo) / scale
            return pd.DataFrame(values, index=X.index, columns=X.columns)
        values = np.asarray(X, dtype=np.float64)
        if values.shape[-1] != lo.shape[0]:
            raise ValueError(f"last dimension {values.shape[-1]} != {lo.shape[0]} features")
        return (values - lo) / scale

    def fit_transform(
        self, X: pd.DataFrame | np.ndarray, mask: np.ndarray | None = None
    ) -> pd.DataFrame | np.ndarray:
        """Fit on the masked rows, then scale all of ``X``."""
        return self.fit(X, mask).transform(X)

    def transform_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Scale a torch tensor ``[..., F]`` on its own device and dtype (same numbers)."""
        lo, scale = self._require_fit()
        if x.shape[-1] != lo.shape[0]:
            raise ValueError(f"last dimension {x.shape[-1]} != {lo.shape[0]} features")
        key = (str(x.device), x.dtype)
        if key not in self._tensor_cache:
            self._tensor_cache[key] = (
                torch.as_tensor(lo, dtype=x.dtype, device=x.device),
                torch.as_tensor(scale, dtype=x.dtype, device=x.device),
            )
        lo_t, scale_t = self._tensor_cache[key]
        return (x - lo_t) / scale_t

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (floats round-trip exactly)."""
        lo, scale = self._require_fit()
        return {"columns": self.columns, "min": lo.tolist(), "scale": scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MinMaxScaler:
        """Inverse of :meth:`to_dict`."""
        obj = cls()
        obj.min_ = np.asarray(d["min"], dtype=np.float64)
        obj.scale_ = np.asarray(d["scale"], dtype=np.float64)
        if obj.min_.shape != obj.scale_.shape:
            raise ValueError("min and scale differ in length")
        cols = d.get("columns")
        obj.columns = None if cols is None else [str(c) for c in cols]
        return obj

    def save(self, path: str | Path) -> None:
        """Write the parameters as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> MinMaxScaler:
        """Read parameters written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))
