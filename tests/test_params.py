"""Params: both shipped files load; every kind of mistake gives one clear message."""

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

import ilsim.params as params_module
from ilsim.cli import main as cli_main
from ilsim.params import MarketBars, ParamsError, load_params, minutes_to_bars, params_from_dict
from ilsim.params.sections import _Strict

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_default_loads():
    p = load_params(ROOT / "params/default.yaml")
    assert p.name == "default" and p.data.source == "synthetic"
    assert p.features.ema_periods_bars == (3, 6, 9, 18, 27)
    assert p.figures_dir() == Path("figures/default")


def test_paper_loads_with_env(monkeypatch, tmp_path):
    fake = tmp_path / "bars.parquet"
    fake.write_bytes(b"")
    monkeypatch.setenv("ILSIM_DATA", str(fake))
    p = load_params(ROOT / "params/paper.yaml")
    assert p.data.path == str(fake)
    assert len(p.segments.extrema) == 37 and len(p.segments.roles) == 25
    assert p.segments.roles.count("backtest") == 12 and p.segments.roles.count("il_train") == 10


def test_ilsim_data_may_name_the_folder(monkeypatch, tmp_path):
    """Issue 28: ILSIM_DATA as the file or its folder (the reference's file when the folder
    holds it, else its only bars file); a folder that names no file gets one clear message."""
    (tmp_path / "qqq_5min_2020-10_2024-12.parquet").write_bytes(b"")
    (tmp_path / "other.csv").write_text("x\n")
    (tmp_path / "README.md").write_text("x\n")
    monkeypatch.setenv("ILSIM_DATA", str(tmp_path))
    p = load_params(ROOT / "params/paper.yaml")
    assert p.data.path == str(tmp_path / "qqq_5min_2020-10_2024-12.parquet")
    (tmp_path / "qqq_5min_2020-10_2024-12.parquet").unlink()
    assert load_params(ROOT / "params/paper.yaml").data.path == str(tmp_path / "other.csv")
    (tmp_path / "more.parquet").write_bytes(b"")
    with pytest.raises(ParamsError, match=r"is a folder holding more.parquet, other.csv: point"):
        load_params(ROOT / "params/paper.yaml")


def test_paper_without_env_names_the_variable(monkeypatch):
    monkeypatch.delenv("ILSIM_DATA", raising=False)
    with pytest.raises(ParamsError, match=r"paper.yaml: key 'data.path' needs .*ILSIM_DATA"):
        load_params(ROOT / "params/paper.yaml")


def test_unknown_key_is_named(tmp_path):
    path = write(tmp_path, {"name": "x", "features": {"ema_periods_bars": [3], "emaa": 1}})
    with pytest.raises(ParamsError, match=r"(?s)p.yaml.*unknown key 'features.emaa'"):
        load_params(path)


def test_wrong_type_is_named(tmp_path):
    path = write(tmp_path, {"name": "x", "experts": {"theta": "ten percent"}})
    with pytest.raises(ParamsError, match=r"key 'experts.theta'.*got 'ten percent'"):
        load_params(path)


def test_missing_name(tmp_path):
    with pytest.raises(ParamsError, match="missing key 'name'"):
        load_params(write(tmp_path, {"seed": 1}))


def test_missing_data_file_is_named(tmp_path):
    path = write(
        tmp_path,
        {
            "name": "x",
            "data": {"source": "file", "path": "nope.parquet"},
            "segments": {"method": "zigzag"},
        },
    )
    with pytest.raises(ParamsError, match=r"key 'data.path': file not found: nope.parquet"):
        load_params(path)


def test_inconsistent_sections(tmp_path):
    raw = {"name": "x", "data": {"source": "file", "path": str(tmp_path)}}
    with pytest.raises(ParamsError, match="segments.method 'synthetic' needs data.source"):
        params_from_dict(raw)


def test_unsorted_extrema(tmp_path):
    raw = {
        "name": "x",
        "segments": {
            "method": "extrema",
            "extrema": [
                {"date": "2020-02-01", "kind": "min"},
                {"date": "2020-01-01", "kind": "max"},
            ],
        },
    }
    with pytest.raises(ParamsError, match="strictly increasing"):
        params_from_dict(raw)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="parameter file not found"):
        load_params(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_cli_check_exit_codes(tmp_path, capsys):
    assert cli_main(["check", str(ROOT / "params/default.yaml")]) == 0
    assert cli_main(["check", str(write(tmp_path, {"name": "x", "bogus": 1}))]) == 1
    assert "unknown key 'bogus'" in capsys.readouterr().err


def test_minutes_to_bars():
    assert minutes_to_bars(230, 5) == 46
    assert minutes_to_bars(230, 1) == 230
    assert minutes_to_bars(2, 5) == 1


def test_durations_in_minutes_keep_the_papers_bars(monkeypatch, tmp_path):
    """Episode, noise block and probe horizon are minutes: on the paper's 5-minute bars they are
    the bars they were (390, 78, 10; the reward window 46), on 1-minute bars five times as many."""
    fake = tmp_path / "bars.parquet"
    fake.write_bytes(b"")
    monkeypatch.setenv("ILSIM_DATA", str(fake))
    m = load_params(ROOT / "params/paper.yaml").market
    assert m.in_bars(5) == MarketBars(
        episode=390, noise_block=78, probe_horizon=10, reward_window=1
    )
    assert m.in_bars(1) == MarketBars(1950, 390, 50, 1)
    window = m.model_copy(update={"reward": "window"})
    assert window.in_bars(5).reward_window == 46 and window.in_bars(1).reward_window == 230
    d = load_params(ROOT / "params/default.yaml").market  # 1-minute synthetic bars
    assert d.in_bars(1) == MarketBars(
        episode=390, noise_block=390, probe_horizon=10, reward_window=1
    )


def test_old_bar_keys_say_what_to_write(tmp_path):
    path = write(tmp_path, {"name": "x", "market": {"episode_bars": 390, "noise_block_bars": 78}})
    with pytest.raises(
        ParamsError,
        match=r"(?s)market.episode_bars is now market.episode_minutes.*390 bars of 5 minutes = "
        r"1950.*market.noise_block_bars is now market.noise_block_minutes.*= 390",
    ):
        load_params(path)


def test_durations_are_validated():
    with pytest.raises(ParamsError, match=r"key 'market.episode_minutes'.*greater than 0"):
        params_from_dict({"name": "x", "market": {"episode_minutes": 0}})
    m = params_from_dict({"name": "x", "market": {"episode_minutes": 5}}).market
    with pytest.raises(
        ValueError,
        match=r"market.episode_minutes \(5\) is shorter than two "
        r"5-minute bars: set it to at least 10",
    ):
        m.in_bars(5)
    assert m.in_bars(1).episode == 5


def test_the_name_override_renames_a_run(monkeypatch):
    from ilsim.params import NAME_OVERRIDE

    monkeypatch.setenv(NAME_OVERRIDE, "scratch-1")
    assert load_params(ROOT / "params/default.yaml").name == "scratch-1"
    monkeypatch.setenv(NAME_OVERRIDE, "bad name/")
    with pytest.raises(ParamsError, match="name"):
        load_params(ROOT / "params/default.yaml")
    monkeypatch.delenv(NAME_OVERRIDE)
    assert load_params(ROOT / "params/default.yaml").name == "default"


def test_config_overrides_merge_section_by_section():
    from ilsim.params import config_overrides, merge_overrides

    raw = {"name": "default", "rl": {"total_steps": 100, "seeds": [0, 1]}, "seed": 0}
    config = {"name": "default", "rl": {"total_steps": 7, "seeds": [0, 1]}, "seed": 3}
    over = config_overrides(raw, config)
    assert over == {"rl": {"total_steps": 7}, "seed": 3}  # the changed keys only
    merged = merge_overrides(raw, {"rl": {"total_steps": 7}})
    assert merged["rl"] == {"total_steps": 7, "seeds": [0, 1]} and raw["rl"]["total_steps"] == 100
    assert config_overrides(raw, {}) == {}
    # Snakemake hands nested values over as strings: null, booleans and numbers are typed
    nested = {"data": {"daily_path": "null", "session": ["09:30", "16:00"]}, "m": {"x": "1e-4"}}
    got = config_overrides({"data": {"daily_path": "d.csv"}, "m": {"x": 0.5}}, nested)
    assert got == {"data": {"daily_path": None, "session": ["09:30", "16:00"]}, "m": {"x": 1e-4}}


def test_example_params_are_shipped():
    from ilsim.params import example_params, load_params

    assert load_params(example_params("default")).name == "default"
    with pytest.raises(FileNotFoundError):
        example_params("nope")


def test_config_overrides_keep_strings_that_are_values():
    """``none`` is an impact mode, not null; a file given with --configfile is no override."""
    from ilsim.params import config_overrides

    raw = {"market": {"impact": "none", "fee": "1e-4"}}
    assert config_overrides(raw, {"market": {"impact": "none", "fee": "1e-4"}}) == {}
    got = config_overrides({"market": {"impact": "paper"}}, {"market": {"impact": "none"}})
    assert got == {"market": {"impact": "none"}}
    assert config_overrides({"a": {"n": 1}}, {"a": {"n": "12345678901234567891"}}) == {
        "a": {"n": 12345678901234567891}
    }


# -- one schema per knob: every key has one default and a user ----------------------------

# Engines configured from a params section through ``params.shared`` (same names): each such
# knob takes its default from the params model: one default, in ilsim/params/sections.py.
ENGINES = [
    ("ILParams", "ilsim/imitation.py", "TrainConfig"),
    ("MarketParams", "ilsim/market/config.py", "MarketConfig"),
    ("SynthesisParams", "ilsim/synthesis.py", "train_synthesis"),
]
ROOT = Path(__file__).resolve().parents[1]


def _engine_defaults(path: str, name: str) -> dict[str, ast.expr]:
    """The default expression of each field (dataclass) or keyword (function) of ``name``."""
    tree = ast.parse((ROOT / path).read_text())
    node = next(n for n in ast.walk(tree) if getattr(n, "name", None) == name)
    if isinstance(node, ast.ClassDef):
        return {
            s.target.id: s.value
            for s in node.body
            if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.value
        }
    args = node.args
    return {a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d}


@pytest.mark.parametrize(("section", "path", "engine"), ENGINES)
def test_each_knob_has_one_default(section, path, engine):
    model = getattr(params_module, section)
    defaults = _engine_defaults(path, engine)
    shared_keys = [k for k in model.model_fields if k in defaults]
    assert shared_keys, f"{engine} takes none of {section}'s keys"
    for key in shared_keys:
        expr = defaults[key]
        # MarketConfig also takes the account (initial_cash, fee) from the backtest section
        sections = (section, "BacktestParams") if engine == "MarketConfig" else (section,)
        taken = (
            isinstance(expr, ast.Call)
            and getattr(expr.func, "id", None) == "default"
            and getattr(expr.args[0], "id", None) in sections
            and getattr(expr.args[1], "value", None) == key
        )
        assert taken, (
            f"{engine}.{key} has its own default {ast.unparse(expr)!r}: take it from "
            f'{section} (default({section}, "{key}"))'
        )


def test_ddpg_takes_the_rl_defaults():
    """``ilsim.ddpg`` imports nothing of the pipeline (issue 27), so DDPGConfig writes its
    plain-DDPG defaults itself: each must equal the ``rl`` params' default of the same knob,
    so that a knob still has one default value whichever door it is set through."""
    import dataclasses

    from ilsim.ddpg import DDPGConfig

    fields = {f.name: f.default for f in dataclasses.fields(DDPGConfig)}
    shared_keys = [k for k in params_module.RLParams.model_fields if k in fields]
    assert len(shared_keys) >= 20
    for key in shared_keys:
        assert fields[key] == params_module.default(params_module.RLParams, key), key


def _leaf_keys(model: type, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, section model name) of every params key, nested sections walked."""
    out = []
    for key, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, _Strict):
            out += _leaf_keys(sub, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", model.__name__))
    return out


def _attributes_read() -> set[str]:
    """Every attribute name read anywhere in the package, the notebooks and the Snakefile."""
    sources = [p.read_text() for p in (ROOT / "ilsim").rglob("*.py")]
    sources.append((ROOT / "Snakefile").read_text())
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        sources.append("\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"))
    names: set[str] = set()
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:  # the Snakefile is Python with Snakemake's rule syntax
            names.update(re.findall(r"\.(\w+)", src))
            continue
        names.update(n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute))
    return names


def test_every_params_key_reaches_the_code_that_uses_it():
    """Each key is read by name somewhere (``p.rl.gamma``), or handed to its engine whole by
    ``params.shared`` (the engines above); a key nothing reads is a knob that does nothing."""
    read = _attributes_read()
    by_engine = {s for s, _, _ in ENGINES}
    unused = [
        key
        for key, section in _leaf_keys(params_module.Params)
        if key.rsplit(".", 1)[-1] not in read and section not in by_engine
    ]
    assert not unused, f"params keys that no code reads: {unused}"
    # the walk sees nested sections and the engines' keys
    keys = dict(_leaf_keys(params_module.Params))
    assert keys["rl.gamma"] == "RLParams" and keys["segments.rule.n_backtest"] == "RoleRule"
