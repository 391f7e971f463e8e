"""A run's folder as one object: the params it ran with, where each of its artifacts lives under
``results/<name>/`` (with its ``figures/`` and ``reports/``) and how to read the plain ones
back. A step turns its params into a :class:`Run` at its top (the section functions notebooks
call take ``(p, root)``, the reader's handles) and hands the run down: the RL trainings, the
strategy loop and the simulator built from a run take it, never the params to make paths from
(issue 27). :meth:`Run.path` (to write) creates the folder, :meth:`Run.file` (to read) does
not. The trained models are read by their own modules from the run's paths
(:func:`ilsim.pool.load_pool`, :func:`ilsim.synthesis.load_synthesis`), the simulator as the
run built it by :func:`ilsim.market.assemble.run_market`: a step that never builds a market
does not depend on that code."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ilsim import artifacts
from ilsim.params import Params

if TYPE_CHECKING:
    from ilsim.features import MinMaxScaler
    from ilsim.impact import ImpactLaw


@dataclass(frozen=True)
class Run:
    """The run ``params.name`` under the project folder ``root``."""

    params: Params
    root: Path = Path(".")  # the project folder (a str is taken too)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # -- folders and paths ----------------------------------------------------------------
    @property
    def results(self) -> Path:
        """Intermediate artifacts (git-ignored)."""
        return self.params.results_dir(self.root)

    @property
    def figures(self) -> Path:
        return self.params.figures_dir(self.root)

    @property
    def reports(self) -> Path:
        return self.params.reports_dir(self.root)

    @property
    def tables(self) -> Path:
        return self.params.tables_dir(self.root)

    def path(self, name: str) -> Path:
        """An artifact's path under ``results/<name>/``, its folder created (to write it)."""
        path = self.results / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def file(self, name: str) -> Path:
        """An artifact's path to read: no folder is created for a run that does not exist."""
        return self.results / name

    def policy_path(self, agent: str, seed: int) -> Path:
        """One trained policy (its training curve, ``.csv``, beside it)."""
        return self.path(artifacts.policy_name(agent, seed))

    def policies(self, agent: str) -> Callable[[int], Path]:
        """Where the run keeps each seed's policy of ``agent``: seed -> path."""
        return lambda seed: self.policy_path(agent, seed)

    def premise_policy_path(self, arm: str, seed: int, size: float | None, fee: float) -> Path:
        """A policy of the premise A/B (:func:`ilsim.artifacts.premise_policy_name`)."""
        return self.path(artifacts.premise_policy_name(arm, seed, size, fee))

    # -- the artifacts read back ------------------------------------------------------------
    def bars(self) -> pd.DataFrame:
        """The canonical bars of notebook 01."""
        from ilsim import data

        return data.load_bars(self.file("bars.parquet"))

    def segments(self) -> pd.DataFrame:
        """The regime segments with their roles (notebook 01)."""
        from ilsim import regimes

        return regimes.load_segments(self.file("segments.csv"))

    def features(self) -> pd.DataFrame:
        """The scaled features, one row per bar (notebook 02)."""
        return pd.read_parquet(self.file("features.parquet"))

    def labels(self) -> pd.Series:
        """The expert labels, one per bar (notebook 02)."""
        return pd.read_parquet(self.file("labels.parquet"))["label"]

    def scaler(self) -> MinMaxScaler:
        """The features' min-max scaler (notebook 02)."""
        from ilsim import features

        return features.MinMaxScaler.load(self.file("scaler.json"))

    def impact(self) -> tuple[ImpactLaw | None, float]:
        """Notebook 05's impact law and the pool's mean net action (``None, 0`` before it ran)."""
        from ilsim import impact

        path = self.file("impact_law.json")
        if not path.exists():
            return None, 0.0
        d = json.loads(path.read_text())
        pool_mean = float(d.pop("pool_mean_action", 0.0))
        return impact.ImpactLaw.from_dict(d), pool_mean

    def backtest_law(self) -> ImpactLaw | None:
        """The law of the impact-aware backtest (``backtest.impact``; ``backtest.impact_coef``
        replaces the fitted coefficient), or ``None`` when the params turn it off."""
        p = self.params
        if not p.backtest.impact:
            return None
        law, _ = self.impact()
        if law is None:
            raise FileNotFoundError(
                f"{self.file('impact_law.json')} is missing: run notebook 05 "
                "(snakemake builds it) or set backtest.impact: false"
            )
        if p.backtest.impact_coef is not None:
            law = replace(law, coef=p.backtest.impact_coef)
        return law

    def final_impact(self) -> str:
        """The final agent's impact mode: the params' choice, or notebook 05's measured one."""
        if self.params.rl.final_impact != "auto":
            return self.params.rl.final_impact
        return json.loads(self.file("impact_mode.json").read_text())["mode"]
