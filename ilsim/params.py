"""Parameter sets: YAML files read once into a validated, typed object.

Every knob of the pipeline lives in one YAML file under ``params/``. ``load_params`` reads it,
expands ``${ENV_VAR}`` references (``ILSIM_DATA`` for the paper's data file), validates every key
and type, and fails with one clear message naming the key or path (:class:`ParamsError`).
Parameters that count bars say ``_bars`` (indicator periods, which the paper counts in bars);
durations say ``_minutes`` (episodes, noise blocks, the probe horizon, the reward window) and
are converted once, with the detected bar interval (:meth:`MarketParams.in_bars`,
:func:`minutes_to_bars`), so a file with another bar size needs no other change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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
    # Issue 15: a realistic fee (1 bp) beside the paper's; the claims are tested and the size
    # sweep trained and backtested at both, so a reader sees what the fee alone drives.
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

    The learner's knobs default to plain DDPG here, and :class:`ilsim.ddpg.DDPGConfig` takes
    its defaults from these (one default per knob); the project's own choices (reward scale,
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
    # Episodes of both RL agents start in these segments; the RL baseline replays il_train.
    train_roles: tuple[Role, ...] = ("il_train", "sim_train")
    # The final agent's world: "auto" reads notebook 05's measured choice (impact_mode.json).
    final_impact: Literal["auto", "paper", "calibrated", "learned", "pool"] = "auto"


class SweepParams(_Strict):
    """Issue 10: when does interactive training pay off? final_rl trained in the simulator at
    each portfolio size and rl_baseline on static replay, both in the impact-aware backtest.
    A smaller budget than the headline run (the rl section's other settings apply)."""

    sizes: tuple[Annotated[float, Field(gt=0)], ...] = (1e6, 1e8, 1e10)
    seeds: tuple[int, ...] = (0, 1)
    total_steps: Annotated[int, Field(ge=1)] = 1500
    min_steps: Annotated[int, Field(ge=0)] = 500
    impact: Literal["learned", "calibrated", "paper", "pool"] = "learned"


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


class Params(_Strict):
    """One validated parameter set; ``name`` decides the output folders."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    seed: Annotated[int, Field(ge=0)] = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data: DataParams = Field(default_factory=DataParams)
    synthetic: SyntheticParams = Field(default_factory=SyntheticParams)
    segments: SegmentParams = Field(default_factory=SegmentParams)
    features: FeatureParams = Field(default_factory=FeatureParams)
    experts: ExpertParams = Field(default_factory=ExpertParams)
    il: ILParams = Field(default_factory=ILParams)
    synthesis: SynthesisParams = Field(default_factory=SynthesisParams)
    market: MarketParams = Field(default_factory=MarketParams)
    rl: RLParams = Field(default_factory=RLParams)
    il_methods: ILMethodsParams = Field(default_factory=ILMethodsParams)
    sweep: SweepParams = Field(default_factory=SweepParams)
    backtest: BacktestParams = Field(default_factory=BacktestParams)
    claims: ClaimsParams = Field(default_factory=ClaimsParams)

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        if self.segments.method == "synthetic" and self.data.source != "synthetic":
            raise ValueError("segments.method 'synthetic' needs data.source 'synthetic'")
        return self

    # -- output locations -------------------------------------------------------------------
    def results_dir(self, root: str | Path = ".") -> Path:
        """Intermediate artifacts (git-ignored)."""
        return Path(root) / "results" / self.name

    def figures_dir(self, root: str | Path = ".") -> Path:
        return Path(root) / "figures" / self.name

    def reports_dir(self, root: str | Path = ".") -> Path:
        return Path(root) / "reports" / self.name

    def tables_dir(self, root: str | Path = ".") -> Path:
        return self.reports_dir(root) / "tables"


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(value: object, where: str, path: Path) -> object:
    """Expand ``${VAR}`` and ``${VAR:-default}`` inside strings, recursively."""
    if isinstance(value, dict):
        return {
            k: _expand_env(v, f"{where}.{k}" if where else str(k), path) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_expand_env(v, f"{where}[{i}]", path) for i, v in enumerate(value)]
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if var in os.environ and os.environ[var]:
                return os.environ[var]
            if default is not None:
                return default
            raise ParamsError(
                f"{path}: key '{where}' needs the environment variable {var}, which is not set "
                f"(e.g. {var}=../shared/data/qqq_5min_2020-10_2024-12.parquet)"
            )

        return _ENV.sub(sub, value)
    return value


def _format_error(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid parameters"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  - unknown key '{key}'")
        elif e["type"] == "missing":
            lines.append(f"  - missing key '{key}'")
        else:
            got = e.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
            lines.append(f"  - key '{key}': {e['msg']}{shown}")
    return "\n".join(lines)


def params_from_dict(
    raw: dict, source: str | Path = "<dict>", *, check_files: bool = True
) -> Params:
    """Validate an already-parsed mapping (the Snakemake ``config``) into :class:`Params`."""
    path = Path(source)
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of keys at the top level")
    raw = _expand_env(raw, "", path)  # type: ignore[assignment]
    try:
        params = Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format_error(path, err)) from None
    if check_files and params.data.source == "file":
        assert params.data.path is not None
        if not Path(params.data.path).exists():
            raise ParamsError(f"{path}: key 'data.path': file not found: {params.data.path}")
    return params


def load_params(path: str | Path, *, check_files: bool = True) -> Params:
    """Read and validate a YAML parameter file; raise :class:`ParamsError` with a clear message."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(
            f"{path}: parameter file not found (the shipped examples: "
            "ilsim.params.example_params('default') or ('paper'))"
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return params_from_dict(with_name_override(raw or {}), path, check_files=check_files)


def with_name_override(raw: dict) -> dict:
    """``raw`` under the name ``ILSIM_NAME`` gives, when set: a run under another name, whose
    outputs go elsewhere (the tests' scratch copy). One place for every params reader."""
    name = os.environ.get(NAME_OVERRIDE)
    return {**raw, "name": name} if name else raw


def example_params(name: str = "default") -> Path:
    """The path of a params file shipped with ilsim (``default`` or ``paper``), from any
    folder: ``load_params(example_params("paper"))``."""
    from ilsim.resources import shipped

    return shipped("params", f"{name}.yaml")


def config_overrides(raw: dict, config: dict) -> dict:
    """What Snakemake's ``config`` changes in the params file ``raw``: the ``--config
    KEY=VALUE`` overrides, down to the changed keys of a section (``config`` holds the file
    too when it came with ``--configfile``). Snakemake reads nested values as strings, so a
    changed nested string that spells null, a boolean or a number becomes one."""
    out: dict = {}
    for k, v in (config or {}).items():
        old = raw.get(k) if isinstance(raw, dict) else None
        if isinstance(v, dict) and isinstance(old, dict):
            typed = {kk: vv if vv == old.get(kk) else _scalar(vv) for kk, vv in v.items()}
            sub = config_overrides(old, typed)
            if sub:
                out[k] = sub
        elif v != old:
            out[k] = v
    return out


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _scalar(value: Any) -> Any:
    """A string as YAML 1.2's core schema reads a plain scalar (null, true/false, numbers);
    other strings (``09:30``, ``none``: an impact mode) stay strings."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in ("null", "Null", "NULL", "~", ""):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.match(r"^[-+]?\d+$", text):
        return int(text)
    if _NUMBER.match(text):
        return float(text)
    return value


def merge_overrides(raw: dict, overrides: dict) -> dict:
    """``raw`` with ``overrides`` merged in, nested sections key by key (``--config
    rl='{total_steps: 100}'`` changes one key of ``rl`` and keeps the others)."""
    out = dict(raw)
    for k, v in overrides.items():
        old = out.get(k)
        out[k] = merge_overrides(old, v) if isinstance(v, dict) and isinstance(old, dict) else v
    return out


# The environment variable that renames a run (its results/, reports/ and figures/ folders):
# the test suite runs the notebooks on a scratch copy of the default run's artifacts this way,
# so that `pytest` never rewrites what `snakemake` made.
NAME_OVERRIDE = "ILSIM_NAME"


def minutes_to_bars(minutes: float, bar_interval_minutes: float) -> int:
    """Convert a duration in minutes to a whole number of bars (at least one)."""
    if bar_interval_minutes <= 0:
        raise ValueError("bar interval must be positive")
    return max(1, round(minutes / bar_interval_minutes))


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks CUDA when present, else CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
