"""Step 5's notes: the prose its notebook shows, each sentence computed from the step's tables
(the synthesis net's skill, the fitted impact law, the checks against the empirical laws, the
realism distances)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ilsim import impact, market
from ilsim.params import Params


def synthesis_note(quality: pd.DataFrame) -> str:
    val = quality.set_index("data").iloc[0]
    held = quality.set_index("data").loc["backtest segments (held out)"]
    reading = (
        "on held-out bars the network's mean return does no better than predicting no move: the "
        "IL actions carry no usable information about the next bar there"
        if held["skill"] <= 0
        else f"the IL actions explain {held['skill']:.2%} of the next bar's return variance on "
        "held-out bars"
    )
    return (
        f"Skill against predicting no move (1 − MSE/MSE₀): {val['skill']:.4f} on the validation "
        f"blocks and {held['skill']:.4f} on the held-out backtests; correlation "
        f"{held['corr']:.3f}, direction right on {held['direction']:.1%} of moving bars. So "
        f"{reading}; the rest of the simulated path's variation comes from the residual noise."
    )


def law_note(law: impact.ImpactLaw, law_table: pd.DataFrame) -> str:
    ci = law.ci
    plac = law_table.set_index("parameter")
    edge = (
        " (at the edge of the grid: a bound, not an estimate)"
        if plac.loc["at_grid_edge", "estimate"]
        else ""
    )
    left = (
        impact.law_response(law, 0.01, law.bars_per_day - 2)[-1]
        / impact.law_response(law, 0.01, 0)[0]
    )
    placebo = plac["placebo_estimate"]
    return (
        f"Fitted on {law.n_bars:,} bars (R² {law.r2:.2f}; placebo {placebo['r2']:.2f}): exponent "
        f"δ = {law.exponent:.2f} [{ci['exponent'][0]:.2f}, {ci['exponent'][1]:.2f}] (placebo "
        f"{placebo['exponent']:.2f}; square-root law: {impact.SQRT_EXPONENT:g}), coefficient "
        f"Y = {law.coef:.2f} [{ci['coef'][0]:.2f}, {ci['coef'][1]:.2f}] (placebo "
        f"{placebo['coef']:.2f}; of order {impact.SQRT_PREFACTOR:g}), half-life of the transient "
        f"part {law.half_life:g} bars [{ci['half_life'][0]:g}, {ci['half_life'][1]:g}]{edge}, "
        f"permanent coefficient κ = {law.permanent_coef:.2f} [{ci['permanent_coef'][0]:.2f}, "
        f"{ci['permanent_coef'][1]:.2f}] per unit of Q/V (placebo "
        f"{placebo['permanent_coef']:.2f}); for a buy of 1 % of daily volume {left:.0%} of the "
        f"peak is left at the close (empirically about {impact.REMAINING_AT_CLOSE:.0%}). The "
        "pool's balance subtracted in `learned` mode: "
        f"{plac.loc['pool_mean_action', 'estimate']:.3f} (net action summed over the agents, on "
        "the simulator's own paths)."
    )


def checks_note(checks: pd.DataFrame) -> str:
    lc = checks.set_index("impact")
    modes = [m for m in market.IMPACT_MODES if m in lc.index]  # not the reference rows
    lines = [
        f"`{mode}`: "
        + (
            f"slope {r.slope:.2f} [{r.slope_ci_low:.2f}, {r.slope_ci_high:.2f}]"
            if np.isfinite(r.slope)
            else "no log-log slope (the response is not positive at every size)"
        )
        + f", peak {r.peak_bp:.3g} bp for {r.size_for_peak:.1%} of daily volume, "
        f"{r.left_at_end:.0%} of it left after {r.end_lag:.0f} bars, "
        f"{'monotone' if r.monotone else 'not monotone'} in size"
        for mode, r in lc.loc[modes].iterrows()
    ]
    ref = lc.loc["empirical law"]
    text = (
        "Measured: " + "; ".join(lines) + f". Empirical laws: slope {ref.slope:g}, peak "
        f"{ref.peak_bp:.3g} bp, {ref.left_at_end:.0%} left at the close."
    )
    if "drift_bp" not in lc or "real (training segments)" not in lc.index:
        return text
    train = lc.loc["real (training segments)"]
    sims = ", ".join(
        f"`{mode}` {r.drift_bp:+.3f} [{r.drift_ci_low:+.3f}, {r.drift_ci_high:+.3f}]"
        for mode, r in lc.loc[modes].iterrows()
    )
    return text + (
        f" Drift with no RL orders (`market.drift`, bp/bar): {sims}; the training segments' "
        f"{train.drift_bp:+.3f} [{train.drift_ci_low:+.3f}, {train.drift_ci_high:+.3f}]."
    )


def realism_note(p: Params, table: pd.DataFrame) -> str:
    tot = table[table["fact"] == "total"].set_index("candidate")["distance"]
    sims = ", ".join(f"{c} {d:.2f}" for c, d in tot.items() if c != "real (half-split)")
    return (
        f"Total stylized-fact distance to the held-out real bars: {sims}; two halves of the real "
        f"data differ by {tot['real (half-split)']:.2f}. Per fact (heavy tails, kurtosis across "
        "aggregation horizons, skew, autocorrelations, leverage, return/volatility correlation, "
        f"intermittency, volume and the intraday U-shapes): `reports/{p.name}/tables/realism.csv`."
    )
