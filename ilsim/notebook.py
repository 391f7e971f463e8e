"""Running the compendium's notebooks headless (what each Snakemake notebook rule does): the
Jupyter kernel of this environment, papermill on an IPC kernel with a retry when the kernel
fails to start, the executed notebook scrubbed deterministic (what tests/test_sections.py
compares with), and the checked outputs stored in the sources (``ilsim nb-sync``). Only the
notebook rules run this code (``ilsim.deps``)."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KERNEL_NAME = "ilsim"


def ensure_kernel(name: str = KERNEL_NAME) -> str:
    """The Jupyter kernel that runs *this* interpreter, installed into its environment when
    needed; returns its name. ``name`` when that spec runs ``sys.executable`` (or none exists
    yet); when a spec of that name belongs to another (or a deleted) environment, this
    environment's own ``name-<id>`` instead, so papermill never runs the notebooks with
    another environment's packages (issue 13)."""
    import hashlib

    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager

    ksm = KernelSpecManager()
    specs = ksm.find_kernel_specs()

    def runs_here(kernel: str) -> bool:
        # the same environment: the interpreter in this environment's own bin folder (a venv's
        # python is a symlink to its base interpreter, so resolved paths would match any venv)
        argv = ksm.get_kernel_spec(kernel).argv
        here = Path(os.path.abspath(sys.executable)).parent
        return bool(argv) and Path(os.path.abspath(argv[0])).parent == here

    if name not in specs:
        install(kernel_name=name, display_name=f"Python ({name})", prefix=sys.prefix)
        return name
    if runs_here(name):
        return name
    env_id = hashlib.sha256(os.path.realpath(sys.prefix).encode()).hexdigest()[:8]
    own = f"{name}-{env_id}"
    if own not in specs or not runs_here(own):
        label = f"Python ({name}, {Path(sys.prefix).name})"
        install(kernel_name=own, display_name=label, prefix=sys.prefix)
    return own


def run_notebook(src: str | Path, dst: str | Path, params_file: str | Path) -> None:
    """Execute ``src`` into ``dst`` with papermill, ``params_file`` injected, on the kernel of
    the running interpreter (:func:`ensure_kernel`, resolved when the job runs, in the job's
    environment: parsing the Snakefile installs nothing)."""
    from ilsim.runs import WRITE_RUN

    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    before = os.environ.get(WRITE_RUN)
    # the kernel writes the run (notebook_params); the executed copy keeps write_run = False,
    # so "Run All" in reports/<name>/notebooks/ works on a scratch copy (issue 28)
    os.environ[WRITE_RUN] = "1"
    try:
        with _cell_log():
            _execute(src, dst, params_file)
    finally:
        if before is None:
            os.environ.pop(WRITE_RUN, None)
        else:
            os.environ[WRITE_RUN] = before
    scrub_notebook(dst)


def _execute(src: str | Path, dst: str | Path, params_file: str | Path) -> None:
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    kernel = ensure_kernel()
    for attempt in range(1, KERNEL_TRIES + 1):
        try:
            with _ipc_kernel(kernel) as km:
                papermill.execute_notebook(
                    str(src),
                    str(dst),
                    parameters={"params_file": str(params_file)},
                    kernel_name=kernel,
                    km=km,
                    progress_bar=False,
                    # what the cells print goes to the rule's log through papermill's logger,
                    # with the elapsed time (:func:`_cell_log`)
                    log_output=True,
                )
            break
        except (papermill.PapermillExecutionError, DeadKernelError, CellTimeoutError):
            raise  # a cell failed or the kernel died while running: never retried
        except (RuntimeError, TimeoutError) as err:  # the kernel did not start
            if attempt == KERNEL_TRIES:
                raise
            print(f"ilsim notebook: the kernel did not start ({err!r}); retry {attempt + 1}")


class _Elapsed(logging.Formatter):
    """``[  12.3 s] message``: seconds since the notebook started."""

    def __init__(self) -> None:
        super().__init__()
        self.start = time.perf_counter()

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.perf_counter() - self.start:7.1f} s] {record.getMessage()}"


@contextlib.contextmanager
def _cell_log() -> Iterator[None]:
    """Papermill's "Executing Cell N" lines, with the elapsed time, in the rule's log: a
    reader of a running step's log sees which cell it is in and since when. The logger is
    restored afterwards (a caller in the same process keeps its own logging)."""
    log = logging.getLogger("papermill")
    saved = (list(log.handlers), log.level, log.propagate)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Elapsed())
    log.handlers[:], log.propagate = [handler], False
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.handlers[:], log.propagate = saved[0], saved[2]
        log.setLevel(saved[1])


@contextlib.contextmanager
def _ipc_kernel(kernel: str) -> Iterator[Any]:
    """A kernel manager on IPC sockets in a private temporary folder: no TCP ports to collide
    between parallel jobs, and no "running over TCP without encryption" warning in the log.
    The kernel is shut down and its sockets removed afterwards."""
    from jupyter_client.manager import KernelManager

    folder = tempfile.mkdtemp(prefix="ilsim-kernel-")
    km = KernelManager(kernel_name=kernel, transport="ipc", ip=os.path.join(folder, "k"))
    try:
        yield km
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        shutil.rmtree(folder, ignore_errors=True)


KERNEL_TRIES = 3  # a kernel that fails to start is retried (a failed cell never is)


# A tqdm progress line ("…| 12/50 [00:03<00:09, 4.1it/s]"): its times change every run.
_PROGRESS = re.compile(r"\|\s*\d+/\d+\s*\[[^\]]*\]")


def scrub_stream(text: str) -> str:
    """A cell's printed text as the executed copy keeps it: no progress-bar lines (their
    times), no absolute paths of this machine (the project, the environment, the home)."""
    places = [
        p
        for p in sorted({os.getcwd(), sys.prefix, str(Path.home())}, key=len, reverse=True)
        if len(p) > 1
    ]
    text = "".join(ln for ln in text.splitlines(True) if not _PROGRESS.search(ln))
    for place in places:
        text = text.replace(place, "…")
    return text


def scrub_notebook(path: str | Path) -> None:
    """Make an executed notebook deterministic (issue 24: the tracked copies under
    ``reports/<name>/notebooks/`` change only when a result does): no execution timestamps or
    durations (papermill's and Jupyter's cell metadata), no random cell or widget ids, no
    progress bars (their times), no absolute paths of this machine; the kernel named by its
    plain name. Everything a reader looks at — code, text, tables, figures — stays."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    if "kernelspec" in nb.metadata:
        nb.metadata.kernelspec.update(name=KERNEL_NAME, display_name=f"Python ({KERNEL_NAME})")
    # the interpreter's patch release is the machine's, not the result's
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"  # papermill gives it a random id
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                continue  # a progress widget: its model id is random, its state not saved
            if "image/png" in data:  # no software version inside the figure
                png = base64.b64decode(data["image/png"])
                data["image/png"] = base64.b64encode(strip_png_text(png)).decode("ascii")
            if out.output_type == "stream":
                text = scrub_stream(out.text)
                if not text.strip():
                    continue
                out.text = text
            outputs.append(out)
        cell.outputs = outputs
    nbformat.write(nb, str(path))


def strip_png_text(png: bytes) -> bytes:
    """The PNG without its text chunks (matplotlib writes ``Software: Matplotlib version…``):
    the image is the same, and its bytes no longer change with the library's version."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        return png
    out, i = [png[:8]], 8
    while i + 8 <= len(png):
        (length,) = struct.unpack(">I", png[i : i + 4])
        kind = png[i + 4 : i + 8]
        chunk = png[i : i + 12 + length]
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            out.append(chunk)
        i += 12 + length
    return b"".join(out)


def sync_checked_outputs(executed_dir: Path, source_dir: Path = Path("notebooks")) -> list[Path]:
    """Copy the outputs of ``# NBVAL_CHECK_OUTPUT`` cells from executed notebooks into the
    sources, so nbval compares against the current pipeline. Other outputs are cleared."""
    import nbformat

    changed = []
    for src in sorted(source_dir.glob("*.ipynb")):
        done = executed_dir / src.name
        if not done.exists():
            continue
        nb, ex = nbformat.read(src, 4), nbformat.read(done, 4)
        ex_cells = {c.source: c for c in ex.cells if c.cell_type == "code"}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.execution_count = None
            cell.outputs = []
            if "NBVAL_CHECK_OUTPUT" in cell.source and cell.source in ex_cells:
                done_cell = ex_cells[cell.source]
                cell.outputs = [o for o in done_cell.outputs if o.output_type == "stream"]
                cell.execution_count = done_cell.execution_count
        nbformat.write(nb, src)
        changed.append(src)
    return changed
