"""The premise A/B's statistics (issue 25): a planted effect found, a failed negative control
and flat arms said, never read as evidence."""

import numpy as np
import pandas as pd
import pytest

from ilsim import premise_ab


def _premise_rows(effect: dict[float, float], seed: int = 0) -> pd.DataFrame:
    """Premise A/B rows with a known answer: at each size the impact arm's excess over its
    constant exceeds the replay arm's by ``effect[size]`` pp (plus segment and seed noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for size, eff in effect.items():
        seg_noise = rng.normal(0, 1.0, 8)
        for seg in range(8):
            for s in range(12):
                for arm, extra in (("impact", eff), ("replay", 0.0)):
                    const = rng.normal(0, 3.0)  # what exposure alone made: cancels out
                    ret = const + seg_noise[seg] + extra + rng.normal(0, 0.3)
                    for kind, value in (("strategy", ret), ("constant", const)):
                        rows.append(
                            {"fee": 0.005, "size": size, "segment": seg, "regime": "bull",
                             "arm": arm, "seed": s, "kind": kind, "exposure": 0.5,
                             "total_return_pct": value, "position_change_frac": 0.1,
                             "degenerate": False}
                        )  # fmt: skip
    return pd.DataFrame(rows)


def test_premise_verdict_finds_a_planted_effect_and_a_failed_control():
    """Known answers: +2 pp at the large sizes and 0 at the control is *supported* (the
    segment-level noise and the constants cancel in the paired difference); the same effect
    with +2 pp at the control too fails the negative control, so it is *not shown*; -2 pp is
    *contradicted*; an effect far below the MDE is *not shown* with its MDE."""
    sup = premise_ab.premise_table(_premise_rows({1e6: 0.0, 1e9: 2.0, 1e10: 2.0}))
    diff = sup[sup["arm"] == "difference"].set_index("size")
    assert diff.loc[1e9, "estimate"] == pytest.approx(2.0, abs=0.1)
    assert diff.loc[1e6, "ci_low"] < 0 < diff.loc[1e6, "ci_high"]
    assert diff.loc[1e10, "verdict"] == "impact-trained better"
    assert premise_ab.premise_verdict(sup).startswith("**Fee 0.005: supported.**")
    bad = premise_ab.premise_verdict(premise_ab.premise_table(_premise_rows({1e6: 2.0, 1e10: 2.0})))
    assert "not shown" in bad and "FAILS" in bad
    worse = premise_ab.premise_verdict(
        premise_ab.premise_table(_premise_rows({1e6: 0.0, 1e10: -2.0}))
    )
    assert "contradicted" in worse
    faint = premise_ab.premise_table(_premise_rows({1e6: 0.0, 1e10: 0.01}))
    assert faint.iloc[-1]["verdict"].startswith("not shown (MDE")


def test_premise_flat_arms_are_not_testable():
    """Both arms holding one position on every backtest (e.g. all cash under the fee) give
    a difference of exactly 0: that is no evidence either way, never "the control holds"."""
    rows = _premise_rows({1e6: 0.0, 1e10: 0.0})
    rows["total_return_pct"] = 0.0
    rows["degenerate"] = True
    table = premise_ab.premise_table(rows)
    assert table["verdict"].str.contains("not testable").all()
    text = premise_ab.premise_verdict(table)
    assert "not shown" in text and "negative control at 1e+06 is not testable" in text
