"""The params sections: one pydantic model per part of the pipeline, with every knob's one
default and meaning (the engines take their defaults from here through :func:`default`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ROLES = ("il_train", "validation", "sim_train", "backtest", "unused")


Role = Literal["il_train", "validation", "sim_train", "backtest", "unused"]


class ParamsError(ValueError):
    """A parameter file that cannot be used; the message names the file and the key."""


def default(model: type[BaseModel], key: str) -> Any:
    """The default of one params key. Engines that take the same knob (``DDPGConfig``,
    ``MarketConfig``, the IL and synthesis trainers) use this as their own default, so every
    knob has one default, here (``tests/test_params.py`` checks it)."""
    return model.model_fields[key].get_default(call_default_factory=True)


def shared(section: BaseModel, engine: Any) -> dict[str, Any]:
    """The values of ``section``'s keys that ``engine`` (a dataclass or a function) takes under
    the same names: how a params section configures its engine without copying fields by
    hand (a key the engine does not take stays out; one it takes is never dropped)."""
    if dataclasses.is_dataclass(engine):
        names = {f.name for f in dataclasses.fields(engine)}
    else:
        names = set(inspect.signature(engine).parameters)
    return {k: getattr(section, k) for k in type(section).model_fields if k in names}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferenceData(_Strict):
    """The data file a run's tracked reference outputs were built from (issue 24): the import
    report states it and says whether the file given is that file (by SHA-256)."""

    name: str
    vendor: str
    span: str
    rows: Annotated[int, Field(ge=1)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class DataParams(_Strict):
    """Where the bars come from."""

    source: Literal["synthetic", "file"] = "synthetic"
    path: str | None = None
    daily_path: str | None = None  # optional; used for the overview figure when it exists
    tz: str = "America/New_York"
    source_tz: str | None = None
    session: tuple[str, str] = ("09:30", "16:00")
    # Share of rows allowed outside data.session before the import stops (a wrong time zone,
    # most likely; widen the session or raise this for extended-hours files).
    max_outside_session: Annotated[float, Field(ge=0, le=1)] = 0.05
    # The file the tracked reference (reports/<name>/, figures/<name>/) was built from.
    reference: ReferenceData | None = None

    @model_validator(mode="after")
    def _file_needs_path(self) -> DataParams:
        if self.source == "file" and not self.path:
            raise ValueError("data.path is required when data.source is 'file'")
        return self


class SyntheticParams(_Strict):
    """The seeded default market (see :mod:`ilsim.synthetic`)."""

    start: dt.date = dt.date(2021, 1, 4)
    bar_minutes: Annotated[int, Field(ge=1, le=60)] = 1
    n_regimes: Annotated[int, Field(ge=3)] = 12
    regime_days: tuple[int, int] = (4, 9)
    start_price: Annotated[float, Field(gt=0)] = 100.0
    daily_drift: Annotated[float, Field(ge=0)] = 0.012
    daily_vol: Annotated[float, Field(gt=0)] = 0.012
    vol_persistence: Annotated[float, Field(ge=0, lt=1)] = 0.995
    vol_of_vol: Annotated[float, Field(ge=0)] = 0.05
    tail_df: Annotated[float, Field(gt=2)] = 4.0
    sideways_prob: Annotated[float, Field(ge=0, le=1)] = 0.25
    base_volume: Annotated[float, Field(gt=0)] = 50_000.0


class Extremum(_Strict):
    date: dt.date
    kind: Literal["min", "max"]


class RoleRule(_Strict):
    """How segments get their roles when the params do not list them (SPEC step 1)."""

    n_il_train: Annotated[int, Field(ge=1)] = 10
    # Policies are selected and stopped on these (never on backtests); they follow il_train.
    n_validation: Annotated[int, Field(ge=0)] = 0
    n_sim_train: Annotated[int, Field(ge=1)] = 3
    n_backtest: Annotated[int, Field(ge=1)] = 12
    sideways_to_backtest: bool = True


class SegmentParams(_Strict):
    """Regime segmentation: extrema from params, a zig-zag, or the generator's own calendar."""

    method: Literal["extrema", "zigzag", "synthetic"] = "synthetic"
    extrema: list[Extremum] = Field(default_factory=list)
    zigzag_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.08
    first_date: dt.date | None = None
    rule: RoleRule = Field(default_factory=RoleRule)
    roles: list[Role] | None = None
    rule_text: str = ""
    # A segment is kept only when the data hold at least this share of its sessions (weekdays
    # after its first extremum day up to its last; every day for data that trade on weekends):
    # sparser segments are dropped, and the import report lists them.
    min_coverage: Annotated[float, Field(ge=0, le=1)] = 0.8
    # Notebook 01: the zig-zag thresholds compared with the listed extrema.
    zigzag_sweep: tuple[Annotated[float, Field(gt=0, lt=1)], ...] = (
        0.03,
        0.04,
        0.05,
        0.06,
        0.07,
        0.08,
        0.10,
    )

    @model_validator(mode="after")
    def _check_extrema(self) -> SegmentParams:
        if self.method == "extrema":
            if len(self.extrema) < 2:
                raise ValueError("segments.extrema needs at least two dates for method 'extrema'")
            dates = [e.date for e in self.extrema]
            if dates != sorted(dates) or len(set(dates)) != len(dates):
                raise ValueError("segments.extrema dates must be strictly increasing")
        return self


class FeatureParams(_Strict):
    """Indicator periods, all in bars (SPEC step 2)."""

    ema_periods_bars: tuple[int, ...] = (3, 6, 9, 18, 27)
    macd_bars: tuple[int, int, int] = (12, 26, 9)
    relvol_window_bars: Annotated[int, Field(ge=2)] = 20

    @field_validator("ema_periods_bars")
    @classmethod
    def _positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or min(v) < 1:
            raise ValueError("EMA periods must be positive integers")
        return v


class ExpertParams(_Strict):
    theta: Annotated[float, Field(gt=0, lt=1)] = 0.10


class BacktestParams(_Strict):
    """The static backtests' account (SPEC step 9)."""

    initial_cash: Annotated[float, Field(gt=0)] = 1_000_000.0
    fee: Annotated[float, Field(ge=0, lt=1)] = 0.005
    # Issue 10: every strategy also in the impact-aware backtest (real prices plus its own
    # impact through notebook 05's fitted law); impact_coef replaces the fitted Y when set.
    impact: bool = True
    impact_coef: Annotated[float, Field(ge=0)] | None = None
    # Issue 15: a realistic fee (1 bp) beside the paper's; the claims are tested and the
    # premise A/B trained and backtested at both, so a reader sees what the fee alone drives.
    # null: the paper's fee only.
    low_fee: Annotated[float, Field(ge=0, lt=1)] | None = 1.0e-4

    def fees(self) -> tuple[float, ...]:
        """The fee axis: the headline fee, then ``low_fee`` when set and different."""
        low = self.low_fee
        return (self.fee,) if low is None or low == self.fee else (self.fee, low)


class ILParams(_Strict):
    """The imitation-learning agent pool (SPEC step 4)."""

    hidden: tuple[int, ...] = (128, 128)
    lr: Annotated[float, Field(gt=0)] = 1e-3
    batch_size: Annotated[int, Field(ge=1)] = 256
    max_epochs: Annotated[int, Field(ge=1)] = 40
    patience: Annotated[int, Field(ge=1)] = 6
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    # As traders (Tables 3-4) an action a in [-1, 1] is an order of a * order_unit_shares.
    order_unit_shares: Annotated[float, Field(gt=0)] = 1.0
    # |a| <= hold_band counts as "hold" when actions are read as buy / hold / sell.
    hold_band: Annotated[float, Field(ge=0, lt=1)] = 0.1
    # How the pool is built: the paper's behavioural cloning ("bc", one batched MLP model) or
    # one of the seeds' methods (notebook 09), one learner per il_train segment.
    method: Literal["bc", "dagger", "maxent_irl", "gail"] = "bc"
    # Which unseen segment the agents trade in notebook 04.
    eval_segment: Literal["first_backtest", "first_sim_train"] | int = "first_backtest"
    # Notebook 04: two agents whose actions correlate above this act as one.
    alike_correlation: Annotated[float, Field(gt=0, le=1)] = 0.9


class SynthesisParams(_Strict):
    """The action synthesis network (SPEC step 5)."""

    n_weights: Annotated[int, Field(ge=1)] = 10
    hidden: tuple[int, ...] = (128, 64)
    lr: Annotated[float, Field(gt=0)] = 1e-3
    batch_size: Annotated[int, Field(ge=1)] = 512
    max_epochs: Annotated[int, Field(ge=1)] = 60
    patience: Annotated[int, Field(ge=1)] = 8
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2


class MarketParams(_Strict):
    """The interactive simulator (SPEC step 6)."""

    impact: Literal["paper", "calibrated", "learned", "pool", "none"] = "paper"
    # The simulated drift, a decision (issue 25): the synthesis network's mean return is that of
    # the segments it was fitted on ("segment": the sim_train segment, in the paper run one bear
    # segment, about -95 bp a session); "train" re-centres it on the mean one-bar return of the
    # agents' training segments (rl.train_roles), "zero" on no drift. The noise has no drift.
    drift: Literal["train", "segment", "zero"] = "train"
    # Durations are in minutes and become bars once, with the data's bar interval (in_bars), so
    # that a file with another bar size runs unchanged. Defaults: the paper's 1-minute bars.
    episode_minutes: Annotated[float, Field(gt=0)] = 390
    # The reward: the value change over the paper's window ("window", reward_window_minutes)
    # or over one bar ("bar": what DDPG learns from on planted edges; issue 9).
    reward: Literal["window", "bar"] = "window"
    reward_window_minutes: Annotated[float, Field(gt=0)] = 230
    # The paper's "fraction" of cash/holdings to trade, or a "target" fraction of value held.
    action_mode: Literal["fraction", "target"] = "fraction"
    # The noise's size: the paper's bootstrap residuals, or scaled by the synthesis network's
    # volatility head for the pool's state (issue 15; notebook 05 scores both for realism).
    volatility: Literal["bootstrap", "head"] = "bootstrap"
    impact_coef: Annotated[float, Field(ge=0)] = 1.0
    noise: bool = True
    noise_block_minutes: Annotated[float, Field(gt=0)] = 20
    il_volume_unit: Annotated[float, Field(gt=0)] | None = None
    max_return: Annotated[float, Field(gt=0)] = 0.2
    # Notebook 05: paths per measurement and the RL order sizes (fractions of cash) probed.
    n_paths: Annotated[int, Field(ge=2)] = 256
    probe_sizes: tuple[float, ...] = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0)
    probe_horizon_minutes: Annotated[float, Field(gt=0)] = 10
    # Notebook 05: the paper's mode "moves the price" when the RL order's response is at least
    # this (and its interval excludes 0); else the final agent trains in ``learned``.
    impact_min_bp: Annotated[float, Field(ge=0)] = 0.1
    realism_boot: Annotated[int, Field(ge=10)] = 200  # bootstrap replicates of the realism scores
    # Notebook 05's checks against the empirical laws: buys of these fractions of daily volume.
    impact_volume_fractions: tuple[Annotated[float, Field(gt=0)], ...] = (
        0.001,
        0.003,
        0.01,
        0.03,
        0.1,
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, raw: object) -> object:
        """The bar counts these durations replaced: say what to write instead."""
        if isinstance(raw, dict):
            old = [k for k in _RENAMED_BARS if k in raw]
            if old:
                raise ValueError(
                    "; ".join(
                        f"market.{k} is now market.{_RENAMED_BARS[k]}, a duration in minutes "
                        "that the pipeline converts to bars of the data's interval: write the "
                        f"bars × the bar interval (e.g. {raw[k]!r} bars of 5 minutes = "
                        f"{_times_five(raw[k])})"
                        for k in old
                    )
                )
        return raw

    def in_bars(self, bar_minutes: float) -> MarketBars:
        """The durations as whole bars of ``bar_minutes`` (the one conversion); a duration
        shorter than the least it can be fails with the key to change."""
        if not bar_minutes > 0:
            raise ValueError(f"bar interval must be positive, got {bar_minutes!r}")
        out = MarketBars(
            episode=minutes_to_bars(self.episode_minutes, bar_minutes),
            noise_block=minutes_to_bars(self.noise_block_minutes, bar_minutes),
            probe_horizon=minutes_to_bars(self.probe_horizon_minutes, bar_minutes),
            reward_window=(
                1
                if self.reward == "bar"
                else minutes_to_bars(self.reward_window_minutes, bar_minutes)
            ),
        )
        if out.episode < 2:
            raise ValueError(
                f"market.episode_minutes ({self.episode_minutes:g}) is shorter than two "
                f"{bar_minutes:g}-minute bars: set it to at least {2 * bar_minutes:g}"
            )
        return out


_RENAMED_BARS = {
    "episode_bars": "episode_minutes",
    "noise_block_bars": "noise_block_minutes",
    "probe_horizon_bars": "probe_horizon_minutes",
}


def _times_five(x: object) -> object:
    return x * 5 if isinstance(x, int | float) and not isinstance(x, bool) else "5 × that"


@dataclass(frozen=True)
class MarketBars:
    """The ``market`` durations in bars of one interval (:meth:`MarketParams.in_bars`)."""

    episode: int
    noise_block: int
    probe_horizon: int
    reward_window: int  # 1 for the one-bar reward


class RLParams(_Strict):
    """DDPG (paper Table 5) and how the policies are trained (SPEC steps 7-8).

    The learner's knobs default to plain DDPG here, the same values as
    :class:`ilsim.ddpg.DDPGConfig`'s (which imports nothing of the pipeline; a test holds them
    equal); the project's own choices (reward scale,
    saturation control, selection on validation, step counts) are written out in
    ``params/*.yaml``."""

    seeds: tuple[int, ...] = (0,)
    n_envs: Annotated[int, Field(ge=1)] = 64
    total_steps: Annotated[int, Field(ge=1)] = 100_000  # vector steps (each: n_envs env steps)
    learning_starts: Annotated[int, Field(ge=0)] = 1_000  # uniform random actions, no updates
    actor_lr: Annotated[float, Field(gt=0)] = 1e-4
    critic_lr: Annotated[float, Field(gt=0)] = 1e-3
    batch_size: Annotated[int, Field(ge=1)] = 128
    buffer_size: Annotated[int, Field(ge=1)] = 9_000_000
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.99
    tau: Annotated[float, Field(gt=0, le=1)] = 0.005
    exploration_noise: Annotated[float, Field(ge=0)] = 0.1
    actor_hidden: tuple[int, ...] = (128, 128)
    critic_hidden: tuple[int, ...] = (128, 128, 128)
    updates_per_step: Annotated[int, Field(ge=1)] = 1
    checkpoint_every: Annotated[int, Field(ge=1)] = 10_000
    # Learner options (issue 9). Rewards × reward_scale (the project: 1e4 makes the market's
    # reward, value change / initial value ~1e-4 a bar, basis points the critic can fit; a
    # constant factor leaves the optimal policy unchanged); plain DDPG: 1.
    reward_scale: Annotated[float, Field(gt=0)] = 1.0
    obs_norm: bool = False
    # Penalty on the actor's pre-tanh output (the project: 0.01 keeps it off tanh's flat
    # tails, where a corner it reached early traps it, issue 9's collapse); plain DDPG: 0.
    preact_penalty: Annotated[float, Field(ge=0)] = 0.0
    target_noise: Annotated[float, Field(ge=0)] = 0.0  # TD3 target smoothing; plain DDPG: 0
    policy_delay: Annotated[int, Field(ge=1)] = 1  # TD3 delayed actor updates; plain DDPG: 1
    # Selection on the validation segments (static real prices, the backtest's rules): every
    # eval_every vector steps (0: never); stop after `patience` evaluations without
    # improvement (0: never early), not before min_steps; total_steps is the cap.
    eval_every: Annotated[int, Field(ge=0)] = 0
    patience: Annotated[int, Field(ge=0)] = 0
    min_steps: Annotated[int, Field(ge=0)] = 0
    # Notebook 06's planted-edge check of the learner: vector steps per case (a cap).
    planted_steps: Annotated[int, Field(ge=1)] = 5000
    # Its buy-and-hold case (no edge, a drift that pays for the fee): vector steps, run in full
    # (None: planted_steps). Holding is found late (issue 25; what each budget finds is in
    # tables/planted_edge.csv and the Discount line of reproduction.md), so the paper gives it
    # its own budget.
    planted_hold_steps: Annotated[int, Field(ge=1)] | None = None
    # Episodes of both RL agents start in these segments (the RL baseline on static replay).
    train_roles: tuple[Role, ...] = ("il_train", "sim_train")
    # The final agent's world: "auto" reads notebook 05's measured choice (impact_mode.json).
    final_impact: Literal["auto", "paper", "calibrated", "learned", "pool"] = "auto"
    # The saved policy (issue 25): "last", the training's last actor (selection-free: its
    # validation score is no winner's curse), or "best", the best-scoring validation checkpoint.
    selection: Literal["best", "last"] = "last"


class PremiseParams(_Strict):
    """Issue 25: the paper's premise — training where your own trades move the price pays off —
    tested by an A/B in one world. Both arms train on real replay of the ``rl.train_roles``
    segments at each portfolio size and fee: arm ``impact`` with its own impact through the law
    of the impact-aware backtest (market mode ``own``), arm ``replay`` without it (size-free,
    so trained once per fee); the same seeds stacked with common random numbers, the same
    budget, and no selection (each seed's last actor). The smallest size is the negative
    control (its impact is negligible: the arms must not differ)."""

    sizes: tuple[Annotated[float, Field(gt=0)], ...] = (1e6, 1e9, 1e10)
    seeds: tuple[int, ...] = tuple(range(12))
    total_steps: Annotated[int, Field(ge=1)] = 1500
    # the impact-aware validation at the arm's size: a curve and a log line, never a selection
    eval_every: Annotated[int, Field(ge=0)] = 500


class ILMethodsParams(_Strict):
    """Notebook 09: the seeds' IL methods compared, and as ways to build the agent pool."""

    methods: tuple[Literal["bc", "dagger", "maxent_irl", "gail"], ...] = (
        "bc",
        "dagger",
        "maxent_irl",
        "gail",
    )
    demonstrators: tuple[Literal["hindsight", "momentum", "mean_reversion", "hybrid"], ...] = (
        "hindsight",
        "hybrid",
    )
    action_space: Literal["three", "five"] = "three"  # for the discrete learners
    hidden: tuple[int, ...] = (64, 64)
    max_epochs: Annotated[int, Field(ge=1)] = 15
    dagger_iterations: Annotated[int, Field(ge=1)] = 2
    irl_iterations: Annotated[int, Field(ge=1)] = 200
    gail_iterations: Annotated[int, Field(ge=1)] = 40
    # Short runs for the pool's effect on the simulator and on the final RL agent.
    rl_steps: Annotated[int, Field(ge=1)] = 300
    n_paths: Annotated[int, Field(ge=2)] = 64
    realism_boot: Annotated[int, Field(ge=10)] = 50  # bootstrap replicates per pool's realism


class ClaimsParams(_Strict):
    """How the paper's claims are tested (issue 15, :mod:`ilsim.stats`): each claim as a paired
    difference against long-only (the paper's comparison) and against the exposure-matched
    constant position, with a two-level bootstrap over segments and seeds."""

    n_boot: Annotated[int, Field(ge=100)] = 2000
    level: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    power: Annotated[float, Field(gt=0, lt=1)] = 0.8  # for the smallest detectable difference
    # Fewer backtest segments than this (a regime's 3-5): the result is descriptive, no verdict.
    min_segments: Annotated[int, Field(ge=2)] = 6
    # "About half of long-only's drawdown": the ratio band the claim is read as.
    drawdown_band: tuple[float, float] = (0.35, 0.65)


def minutes_to_bars(minutes: float, bar_interval_minutes: float) -> int:
    """Convert a duration in minutes to a whole number of bars (at least one)."""
    if bar_interval_minutes <= 0:
        raise ValueError("bar interval must be positive")
    return max(1, round(minutes / bar_interval_minutes))
