"""Parameter sets: YAML files read once into a validated, typed object.

Every knob of the pipeline lives in one YAML file under ``params/``. ``load_params`` reads it,
expands ``${ENV_VAR}`` references (``ILSIM_DATA`` for the paper's data file), validates every key
and type, and fails with one clear message naming the key or path (:class:`ParamsError`).
Parameters that count bars say ``_bars`` (indicator periods, which the paper counts in bars);
durations say ``_minutes`` (episodes, noise blocks, the probe horizon, the reward window) and
are converted once, with the detected bar interval (:meth:`MarketParams.in_bars`,
:func:`minutes_to_bars`), so a file with another bar size needs no other change.

Parts: ``sections`` (one model per pipeline part, each knob's one default) and ``load``
(:class:`Params`, reading, overrides); every name is importable from ``ilsim.params``.
"""

from ilsim.params.load import (
    NAME_OVERRIDE,
    Params,
    config_overrides,
    example_params,
    load_params,
    merge_overrides,
    params_from_dict,
    resolve_device,
    with_name_override,
)
from ilsim.params.sections import (
    ROLES,
    BacktestParams,
    ClaimsParams,
    DataParams,
    ExpertParams,
    Extremum,
    FeatureParams,
    ILMethodsParams,
    ILParams,
    MarketBars,
    MarketParams,
    ParamsError,
    PremiseParams,
    RLParams,
    Role,
    RoleRule,
    SegmentParams,
    SynthesisParams,
    SyntheticParams,
    default,
    minutes_to_bars,
    shared,
)

__all__ = [
    "BacktestParams",
    "ClaimsParams",
    "DataParams",
    "ExpertParams",
    "Extremum",
    "FeatureParams",
    "ILMethodsParams",
    "ILParams",
    "MarketBars",
    "MarketParams",
    "NAME_OVERRIDE",
    "Params",
    "ParamsError",
    "RLParams",
    "ROLES",
    "Role",
    "RoleRule",
    "SegmentParams",
    "PremiseParams",
    "SynthesisParams",
    "SyntheticParams",
    "config_overrides",
    "default",
    "example_params",
    "load_params",
    "merge_overrides",
    "minutes_to_bars",
    "params_from_dict",
    "resolve_device",
    "shared",
    "with_name_override",
]
