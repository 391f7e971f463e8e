"""Unit tests run under the params' own names, whatever ILSIM_NAME the shell exports."""

import pytest

from ilsim.params import NAME_OVERRIDE


@pytest.fixture(autouse=True)
def _own_run_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NAME_OVERRIDE, raising=False)
