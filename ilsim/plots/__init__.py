"""Figures: one function per figure kind, saved as PNG and PDF side by side.

One module per part of the pipeline (``segments``: steps 1-2, ``imitation``: the IL learners,
``simulator``: step 5, ``rl``: steps 6-8) and ``common`` for what they share; every public
name is importable from ``ilsim.plots``, loaded on first use (PEP 562): the pipeline's steps
import the module they draw with, so an edit of one plotting module reruns only the steps that
draw with it (``ilsim.deps``)."""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = ("common", "segments", "imitation", "simulator", "rl")


def __getattr__(name: str) -> Any:
    for module in _MODULES:
        found = getattr(importlib.import_module(f"ilsim.plots.{module}"), name, None)
        if found is not None and not name.startswith("_"):
            return found
    raise AttributeError(f"module 'ilsim.plots' has no attribute {name!r}")
