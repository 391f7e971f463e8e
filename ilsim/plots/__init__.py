"""Figures: one function per figure kind, saved as PNG and PDF side by side.

One module per part of the pipeline (``segments``: steps 1-2, ``imitation``: the IL learners,
``simulator``: step 5, ``rl``: steps 6-8) and ``common`` for what they share; every public
name is importable from ``ilsim.plots``, loaded on first use (PEP 562): the pipeline's steps
import the module they draw with, so an edit of one plotting module reruns only the steps that
draw with it (``ilsim.deps``)."""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module that defines it
_WHERE = {
    "DIAGNOSTICS": "rl",
    "REGIME_COLORS": "common",
    "ROLE_HATCH": "common",
    "STRATEGY_COLORS": "common",
    "note_coinciding": "common",
    "plot_action_histograms": "rl",
    "plot_action_mix": "imitation",
    "plot_case": "rl",
    "plot_correlation": "segments",
    "plot_feature_distributions": "segments",
    "plot_heatmap": "common",
    "plot_il_actions": "imitation",
    "plot_il_methods": "imitation",
    "plot_il_pnl": "imitation",
    "plot_impact_curves": "simulator",
    "plot_impact_response": "simulator",
    "plot_influence": "simulator",
    "plot_label_mix": "segments",
    "plot_planted_edge": "rl",
    "plot_risk_return": "rl",
    "plot_rl_diagnostics": "rl",
    "plot_segments": "segments",
    "plot_size_sweep": "simulator",
    "plot_training_curves": "imitation",
    "plot_training_curves_rl": "rl",
    "save_figure": "common",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"ilsim.plots.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'ilsim.plots' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
