"""Figures: one function per figure kind, saved as PNG and PDF side by side.

One module per part of the pipeline (``segments``: steps 1-2, ``imitation``: the IL learners,
``simulator``: step 5, ``rl``: steps 6-8) and ``common`` for what they share; every public
name is importable from ``ilsim.plots``."""

from ilsim.plots.common import (
    REGIME_COLORS,
    ROLE_HATCH,
    STRATEGY_COLORS,
    note_coinciding,
    plot_heatmap,
    save_figure,
)
from ilsim.plots.imitation import (
    plot_action_mix,
    plot_il_actions,
    plot_il_methods,
    plot_il_pnl,
    plot_training_curves,
)
from ilsim.plots.rl import (
    DIAGNOSTICS,
    plot_action_histograms,
    plot_case,
    plot_planted_edge,
    plot_risk_return,
    plot_rl_diagnostics,
    plot_training_curves_rl,
)
from ilsim.plots.segments import (
    plot_correlation,
    plot_feature_distributions,
    plot_label_mix,
    plot_segments,
)
from ilsim.plots.simulator import (
    plot_impact_curves,
    plot_impact_response,
    plot_influence,
    plot_size_sweep,
)

__all__ = [
    "DIAGNOSTICS",
    "REGIME_COLORS",
    "ROLE_HATCH",
    "STRATEGY_COLORS",
    "note_coinciding",
    "plot_action_histograms",
    "plot_action_mix",
    "plot_case",
    "plot_correlation",
    "plot_feature_distributions",
    "plot_heatmap",
    "plot_il_actions",
    "plot_il_methods",
    "plot_il_pnl",
    "plot_impact_curves",
    "plot_impact_response",
    "plot_influence",
    "plot_label_mix",
    "plot_planted_edge",
    "plot_risk_return",
    "plot_rl_diagnostics",
    "plot_segments",
    "plot_size_sweep",
    "plot_training_curves",
    "plot_training_curves_rl",
    "save_figure",
]
