"""The whole parameter set (:class:`Params`), read from YAML once and validated with one clear
message, ``${ENV}`` references, overrides that reject unknown names, and the device choice."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from ilsim.params.sections import (
    BacktestParams,
    ClaimsParams,
    DataParams,
    ExpertParams,
    FeatureParams,
    ILMethodsParams,
    ILParams,
    MarketParams,
    ParamsError,
    PremiseParams,
    RLParams,
    SegmentParams,
    SynthesisParams,
    SyntheticParams,
    _Strict,
)


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
    premise: PremiseParams = Field(default_factory=PremiseParams)
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
        if Path(params.data.path).is_dir():
            found = str(data_file_in(Path(params.data.path), params.data.reference, path))
            params = params.model_copy(
                update={"data": params.data.model_copy(update={"path": found})}
            )
    return params


DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".txt")  # what the importer reads (data.rows)


def data_file_in(folder: Path, reference: Any, source: Path) -> Path:
    """The bars file of a folder given as ``data.path`` (``ILSIM_DATA`` may name the file or
    its folder): the reference data set's file when the folder holds it, else the folder's
    only CSV or Parquet file; otherwise one message saying what to set."""
    if reference is not None and (folder / reference.name).is_file():
        return folder / reference.name
    files = sorted(
        f
        for f in folder.iterdir()
        if f.is_file() and any(x.lower() in DATA_SUFFIXES for x in f.suffixes)
    )
    if len(files) == 1:
        return files[0]
    held = ", ".join(f.name for f in files) or "no bars file (.csv, .parquet)"
    raise ParamsError(
        f"{source}: key 'data.path': {folder} is a folder holding {held}: point ILSIM_DATA "
        "(or data.path) at the bars file itself"
    )


def load_params(
    path: str | Path,
    *,
    check_files: bool = True,
    overrides: dict | None = None,
    for_reading: bool = False,
) -> Params:
    """Read and validate a YAML parameter file; raise :class:`ParamsError` with a clear message.
    ``overrides``: values merged in section by section first (:func:`merge_overrides`).
    ``for_reading``: the params of a finished run, to read its artifacts only (``ilsim
    backtest``): the training data's path (often ``${ILSIM_DATA}``) need not be set or exist."""
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
    raw = merge_overrides(raw or {}, overrides or {})
    if for_reading:
        raw, check_files = _data_not_needed(raw), False
    source = f"{path} with {overrides}" if overrides else path
    return params_from_dict(with_name_override(raw), source, check_files=check_files)


def _data_not_needed(raw: dict) -> dict:
    """``raw`` with each data path that names an unset variable without a default replaced by
    a placeholder: a run's artifacts are read without its training data."""
    d = raw.get("data") or {}
    for key in ("path", "daily_path"):
        value = d.get(key)
        if isinstance(value, str):
            missing = [m.group(1) for m in _ENV.finditer(value) if not os.environ.get(m.group(1))]
            if any(m.group(2) is None for m in _ENV.finditer(value) if m.group(1) in missing):
                d[key] = "<not needed to read saved artifacts>"
    return raw


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


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks CUDA when present, else CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
