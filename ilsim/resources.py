"""Files shipped with ilsim (issue 14): the paper's own tables (``paper/``) and the example
params (``params/``), found from any working directory — in a checkout (also an editable
install) in its folders, in an installed wheel as the packages ``ilsim.paper`` and
``ilsim.examples``."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

PACKAGES = {"paper": "ilsim.paper", "params": "ilsim.examples"}


def shipped(folder: str, name: str) -> Path:
    """The shipped file ``folder/name`` (``folder``: ``paper`` or ``params``)."""
    if folder not in PACKAGES:
        raise ValueError(f"folder must be one of {sorted(PACKAGES)}, got {folder!r}")
    project = Path(__file__).resolve().parents[1]
    checkout = project / folder / name
    if (project / "pyproject.toml").is_file() and checkout.is_file():  # not site-packages
        return checkout
    try:
        packaged = importlib.resources.files(PACKAGES[folder]).joinpath(name)
    except ModuleNotFoundError:
        packaged = None
    if packaged is not None and packaged.is_file():
        return Path(str(packaged))
    raise FileNotFoundError(f"{folder}/{name} is neither in this checkout nor in the package")
