"""The simulator on any bars file (issue 28): ``gymnasium.make("ilsim/Market-v0",
data="bars.csv")`` replays the bars or moves them by the impact law fitted on them, reads the
file with the project's importer (a bad file: one line), and runs from any folder."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import ilsim
from ilsim import envs, impact
from ilsim.data import DataImportError
from ilsim.market.from_bars import bars_market, read_bars
from ilsim.params import Params, SyntheticParams
from ilsim.synthetic import generate_bars

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with seven days of synthetic 5-minute bars as ``bars.csv`` and
    ``bars.parquet``."""
    bars, _ = generate_bars(SyntheticParams(n_regimes=3, regime_days=(2, 2), bar_minutes=5), seed=2)
    out = tmp_path_factory.mktemp("bars")
    bars.to_csv(out / "bars.csv")
    bars.to_parquet(out / "bars.parquet")
    return out


@pytest.mark.parametrize("name", ["bars.csv", "bars.parquet"])
def test_make_vec_replays_the_bars_of_a_file(folder, name):
    bars = read_bars(folder / "bars.csv")
    v = gym.make_vec(ilsim.ENV_ID, num_envs=4, data=folder / name, device="cpu")
    assert isinstance(v, envs.MarketVectorEnv)
    cfg = v.market.cfg
    assert cfg.impact == "none" and cfg.episode_bars == 390 // 5  # the params' minutes
    obs, _ = v.reset(seed=0)
    start = v.market.state.start.numpy().copy()
    close = bars["close"].to_numpy()
    rng = np.random.default_rng(0)
    for k in range(1, 6):
        obs, r, _, _, info = v.step(rng.uniform(-1, 1, (4, 1)).astype(np.float32))
        assert np.allclose(info["price"], close[start + k])  # the real bars, whatever we do
        assert all(v.single_observation_space.contains(o) for o in obs)
    one = gym.make(ilsim.ENV_ID, data=str(folder / name))
    o, _ = one.reset(seed=0)
    assert one.observation_space.contains(o)


def test_a_relative_path_is_the_working_folders_or_roots(folder, monkeypatch):
    a = gym.make_vec(ilsim.ENV_ID, num_envs=2, data="bars.csv", root=folder, device="cpu")
    monkeypatch.chdir(folder)
    b = gym.make_vec(ilsim.ENV_ID, num_envs=2, data="bars.csv", device="cpu")
    assert np.array_equal(a.reset(seed=3)[0], b.reset(seed=3)[0])


def test_learned_fits_the_impact_law_on_the_bars_and_a_buy_moves_the_price(folder):
    bars = read_bars(folder / "bars.csv")
    prices = []
    for action in (0.0, 1.0):
        v = gym.make_vec(
            ilsim.ENV_ID, num_envs=4, data=folder / "bars.csv", impact="learned", device="cpu"
        )
        v.reset(seed=5)
        _, _, _, _, info = v.step(np.full((4, 1), action, dtype=np.float32))
        prices.append(info["price"])
    law = v.market.data.impact_law
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = impact.fit_impact_law(bars, n_boot=0)
    assert law.coef == expected.coef and law.exponent == expected.exponent
    assert (prices[1] > prices[0]).all()  # the same noise, plus the buy's own impact


def test_settings_come_from_params_and_overrides(folder):
    p = Params(name="mine", market={"episode_minutes": 100}, backtest={"fee": 0.001})
    data, cfg = bars_market(folder / "bars.csv", p, impact="calibrated", reward_window_bars=5)
    assert cfg.impact == "calibrated" and cfg.episode_bars == 20 and cfg.fee == 0.001
    assert cfg.reward_window_bars == 5
    assert data.impact_law is None and data.start_ranges == [(0, len(data.bars) - 1)]
    with pytest.raises(TypeError):
        bars_market(folder / "bars.csv", stagger_start=True)  # a typo


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"impact": "paper"}, "IL pool"),
        ({"impact": "pool"}, "IL pool"),
        ({"role": "backtest"}, "segments"),
        ({"episode_bars": 600}, "no episode of 600 bars"),
    ],
)
def test_what_a_bars_file_cannot_give_is_refused(folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make(ilsim.ENV_ID, data=folder / "bars.csv", **kwargs)


def test_registering_twice_is_silent():
    spec = gym.spec(ilsim.ENV_ID)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ilsim._register()
        ilsim._register()
    assert gym.spec(ilsim.ENV_ID) is spec


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("missing.csv", None, "file not found"),
        ("cols.csv", "a,b\n1,2\n", "missing required columns"),
        ("broken.parquet", "not parquet", "cannot read Parquet file"),
        ("bars.xlsx", "x", "unsupported file type"),
        ("short.csv", "head", "hold no episode"),
    ],
)
def test_a_bad_file_gives_one_clear_line(folder, tmp_path, name, content, problem):
    path = tmp_path / name
    if name == "short.csv":  # a valid file of 40 bars: too short for one episode
        pd.read_csv(folder / "bars.csv").head(40).to_csv(path, index=False)
    elif content is not None:
        path.write_text(content)
    with pytest.raises((DataImportError, ValueError)) as err:
        gym.make(ilsim.ENV_ID, data=path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path)) and problem in msg, msg


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300
    )


STEPS = (
    "; import numpy as np; rng = np.random.default_rng(0)"
    "; out = [env.step(rng.uniform(-1, 1, (8, 1)).astype(np.float32)) for _ in range(5)]"
    "; assert np.isfinite(out[-1][0]).all() and out[-1][0].shape[0] == 8; print('stepped')"
)


@pytest.mark.e2e
@pytest.mark.slow
def test_make_vec_on_a_bars_csv_from_its_folder(folder):
    """The one-liner from a folder that holds only the bars (the id names its module, which
    gymnasium imports: no ``import ilsim``), then a few random steps."""
    code = (
        "import gymnasium as gym; env = gym.make_vec('ilsim:ilsim/Market-v0', num_envs=8, "
        "data='bars.csv'); env.reset(seed=0)"
    )
    out = _run(code + STEPS, folder)
    assert out.returncode == 0 and "stepped" in out.stdout, out.stderr


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="gymnasium >= 1.0 loads no gymnasium.envs entry points (plugins were removed): "
    "the bare id needs `import ilsim` or the 'ilsim:' prefix",
)
def test_the_bare_id_without_import_ilsim(folder):
    code = (
        "import gymnasium as gym; env = gym.make_vec('ilsim/Market-v0', num_envs=8, "
        "data='bars.csv'); env.reset(seed=0)"
    )
    out = _run(code, folder)
    assert out.returncode == 0, out.stderr.strip().splitlines()[-1]


@pytest.mark.e2e
@pytest.mark.slow
def test_the_readme_bars_snippet_runs_as_written(folder):
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- bars-snippet -->\n```python\n(.*?)```", readme, re.S)
    assert snippet, "README lost its bars snippet"
    out = _run(snippet.group(1) + "\nprint('ran')\n", folder)
    assert out.returncode == 0 and "ran" in out.stdout, out.stderr
