"""The premise A/B's statistics (issue 25; rows from :func:`ilsim.steps.premise.premise_backtests`):
per fee × size, each arm's excess return over its exposure-matched constant and their
difference (impact − replay) with a two-level bootstrap over segments and seeds (seeds paired:
common random numbers), the smallest detectable difference, and the premise's verdict in one of
three words, with the smallest size as the negative control. Flat arms (one position held on
every backtest) are said, never read as evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ilsim.params import ClaimsParams
from ilsim.stats import detectable_difference, percentile_interval, two_level_bootstrap

ARM_LABELS = {
    "impact": "trained with its own impact",
    "replay": "trained without it",
    "difference": "impact − replay",
}


def _excess(rows: pd.DataFrame, arm: str) -> np.ndarray:
    """An arm's return over its exposure-matched constant (pp), [segments, seeds]."""
    sub = rows[rows["arm"] == arm]
    grid = sub.pivot_table(
        index=["segment", "seed"], columns="kind", values="total_return_pct", aggfunc="first"
    )
    ex = (grid["strategy"] - grid["constant"]).unstack("seed")
    return ex.sort_index().to_numpy(dtype=float)


def premise_table(rows: pd.DataFrame, cfg: ClaimsParams | None = None, seed: int = 0):
    """The A/B per fee × size: each arm's excess over its exposure-matched constant and the
    difference (impact − replay), mean over segments × seeds with a two-level bootstrap
    interval (seeds paired) and the smallest detectable difference (MDE); the difference's
    verdict. ``flat_seeds``: seeds holding one position on every backtest (for the difference:
    in both arms); both arms flat is no test, one arm flat is said in the verdict (it
    abstains). ``exposure`` and ``position_change_frac``: the arm's means (the difference row:
    impact − replay). One row per fee × size × arm (``arm``: impact, replay, difference)."""
    cfg = cfg or ClaimsParams()
    out = []
    for (fee, size), g in rows.groupby(["fee", "size"], sort=False):
        a, b = _excess(g, "impact"), _excess(g, "replay")
        stat = lambda d: np.array(  # noqa: E731
            [d["a"].mean(), d["b"].mean(), (d["a"] - d["b"]).mean()]
        )
        reps = two_level_bootstrap(stat, {"a": a, "b": b}, cfg.n_boot, seed)
        point = stat({"a": a, "b": b})
        se = reps.std(axis=0, ddof=1)
        strat = g[g["kind"] == "strategy"]
        # seeds holding one position on every backtest, per arm (all cash: an excess of 0)
        flat = strat.groupby(["arm", "seed"])["degenerate"].all().groupby("arm").sum()
        n_seeds = a.shape[1]
        all_flat = {arm: int(flat.get(arm, 0)) == n_seeds for arm in ("impact", "replay")}
        for j, arm in enumerate(("impact", "replay", "difference")):
            lo, hi = percentile_interval(reps[:, j], cfg.level)
            mde = detectable_difference(se[j], cfg.level, cfg.power)
            if arm == "difference":  # A − B of the arms' means
                arms = strat.groupby("arm")[["exposure", "position_change_frac"]].mean()
                held = arms.loc["impact"] - arms.loc["replay"]
                n_flat = int(strat.groupby("seed")["degenerate"].all().sum())  # flat in both
                verdict = _verdict(arm, lo, hi, mde, all(all_flat.values()))
                lone = [x for x, v in all_flat.items() if v]
                if len(lone) == 1:
                    verdict += (
                        f" (the {lone[0]} arm holds one position throughout on every seed: the "
                        "difference is the other arm's excess against abstaining)"
                    )
            else:
                held = strat[strat["arm"] == arm][["exposure", "position_change_frac"]].mean()
                n_flat = int(flat.get(arm, 0))
                verdict = _verdict(arm, lo, hi, mde, all_flat[arm])
            out.append(
                {
                    "fee": fee,
                    "size": size,
                    "arm": arm,
                    "what": ARM_LABELS[arm],
                    "seeds": n_seeds,
                    "segments": a.shape[0],
                    "estimate": point[j],
                    "ci_low": lo,
                    "ci_high": hi,
                    "mde": mde,
                    "exposure": float(held["exposure"]),
                    "position_change_frac": float(held["position_change_frac"]),
                    "flat_seeds": n_flat,
                    "verdict": verdict,
                }
            )
    return pd.DataFrame(out)


def _verdict(arm: str, lo: float, hi: float, mde: float, degenerate: bool = False) -> str:
    """One cell's word: the difference's (which arm is better), an arm's (against its
    constant). ``degenerate``: every seed holds one position throughout (for the difference:
    in both arms), so the excess is the constant's own and nothing is tested."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "not shown: not testable (undefined)"
    if degenerate:
        who = "both arms hold" if arm == "difference" else "it holds"
        return f"not shown: not testable ({who} one position throughout on every seed)"
    if arm == "difference":
        if lo > 0:
            return "impact-trained better"
        if hi < 0:
            return "replay-trained better"
        return f"not shown (MDE {mde:.3g} pp)"
    if lo > 0:
        return "beats its constant"
    if hi < 0:
        return "below its constant"
    return f"not distinguishable from its constant (MDE {mde:.3g} pp)"


def premise_verdict(table: pd.DataFrame) -> str:
    """The premise per fee, in one of three words: *supported* (the difference's lower bound
    above 0 at every size but the smallest, and the smallest's interval containing 0),
    *contradicted* (the interval below 0 at every size but the smallest, the control holding),
    else *not shown*
    (with the MDEs; "not testable" where both arms hold one position throughout); and whether
    the negative control holds."""
    # an arm is flat where every seed holds one position (read from the numbers, not the words)
    arms = table[table["arm"] != "difference"]
    flat = (arms["flat_seeds"] == arms["seeds"]).groupby([arms["fee"], arms["size"], arms["arm"]])
    flat = flat.all().unstack("arm")
    lines = []
    for fee, g in table[table["arm"] == "difference"].groupby("fee", sort=False):
        g = g.sort_values("size")
        control, tests = g.iloc[0], g.iloc[1:]
        both = [bool(flat.loc[(fee, x)].all()) for x in g["size"]]
        finite = np.isfinite(g["ci_low"]) & np.isfinite(g["ci_high"])
        testable = pd.Series(~np.array(both), index=g.index) & finite
        interval = f"[{control['ci_low']:+.3g}, {control['ci_high']:+.3g}] pp"
        if not testable.iloc[0]:
            ctrl = f"the negative control at {control['size']:g} is not testable (both arms flat)"
            control_ok = False
        elif control["ci_low"] <= 0 <= control["ci_high"]:
            ctrl = (
                f"the negative control at {control['size']:g} holds ({interval} contains 0; "
                f"its MDE {control['mde']:.3g} pp bounds what it can rule out)"
            )
            control_ok = True
        else:
            ctrl = (
                f"the negative control at {control['size']:g} FAILS ({interval} excludes 0: the "
                "arms differ where impact is small, so a difference elsewhere is not impact's "
                "alone)"
            )
            control_ok = False
        cells = "; ".join(
            f"{r.size:g}: {r.estimate:+.3g} pp [{r.ci_low:+.3g}, {r.ci_high:+.3g}], MDE "
            f"{r.mde:.3g} pp"
            + ("" if ok else " (not testable: both arms flat)")
            + (
                ""
                if not ok or flat.loc[(fee, r.size)].all()
                else " (impact arm flat: it abstains)"
                if flat.loc[(fee, r.size), "impact"]
                else " (replay arm flat)"
                if flat.loc[(fee, r.size), "replay"]
                else ""
            )
            for r, ok in zip(tests.itertuples(), testable.iloc[1:], strict=True)
        )
        if len(tests) == 0:
            word = "not shown (one size only: nothing beside the negative control)"
        elif not testable.iloc[1:].all():
            word = "not shown (not testable where both arms hold one position throughout)"
        elif control_ok and (tests["ci_low"] > 0).all():
            word = "supported"
        elif control_ok and (tests["ci_high"] < 0).all():
            word = "contradicted"
        else:
            word = "not shown"
        lines.append(
            f"**Fee {fee:.4g}: {word}.** Impact-trained minus replay-trained excess over the "
            f"exposure-matched constant, at {cells}; {ctrl}."
        )
    return "\n\n".join(lines)
