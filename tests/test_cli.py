"""The command line's helpers: the notebooks' Jupyter kernel."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def test_a_kernel_of_another_environment_is_never_used(tmp_path, monkeypatch):
    """Issue 13: a spec named like ours that runs another interpreter is left alone; this
    environment gets (and reuses) its own kernel, which runs this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager

    from ilsim.cli import ensure_kernel

    # another venv on the same base interpreter: its python is a symlink to the same binary
    other = tmp_path / "othervenv" / "bin"
    other.mkdir(parents=True)
    (other / "python").symlink_to(Path(sys.executable).resolve())
    stale = tmp_path / "kernels" / "ilsim-test-stale"
    stale.mkdir(parents=True)
    (stale / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    str(other / "python"),
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "stale",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    name = ensure_kernel("ilsim-test-stale")
    try:
        assert name.startswith("ilsim-test-stale-")
        spec = KernelSpecManager().get_kernel_spec(name)
        assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
        assert ensure_kernel("ilsim-test-stale") == name  # found again, not reinstalled
    finally:
        shutil.rmtree(Path(sys.prefix) / "share/jupyter/kernels" / name, ignore_errors=True)
