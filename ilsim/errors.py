"""A failed step's own message on the console: ``python -m ilsim.errors LOG``.

Snakemake runs each step with its output redirected to a log (a papermill notebook, or an
``ilsim`` command) and on failure prints only ``Error in rule …``. Every rule therefore ends in
``… > LOG 2>&1 || python -m ilsim.errors LOG``: this prints the exception that stopped the step
— for a notebook the one raised in its cell, not papermill's — to stderr, names the log with
the full traceback, and exits 1 so the step still fails.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A traceback's frame header: IPython ("File /x.py:12, in f()", "Cell In[5], line 2") or
# plain Python ('  File "/x.py", line 12, in f').
_FRAME = re.compile(r'^(?:File \S.*:\d+|Cell In\[\d*\], line \d+|\s*File ".*", line \d+)')
_CELL = re.compile(r'Exception encountered at "(In \[\d*\])"')


def last_error(log: str) -> tuple[str, str | None]:
    """The message of the last exception in a step's log (``""`` when none is found) and, for
    a notebook, the cell it was raised in."""
    lines = _ANSI.sub("", log).splitlines()
    frames = [i for i, line in enumerate(lines) if _FRAME.match(line)]
    if not frames:
        return "", None
    start = None
    for i in range(frames[-1] + 1, len(lines)):
        line = lines[i]
        # the frame's code lines are indented or arrowed; the exception starts at column 0
        if line.strip() and not line[0].isspace() and not line.startswith("-"):
            start = i
            break
    if start is None:
        return "", None
    cells = _CELL.findall(log)
    return "\n".join(lines[start:]).strip(), (cells[-1] if cells else None)


def report(log_path: str | Path, tail: int = 15) -> str:
    """What to print for a failed step whose output went to ``log_path``."""
    path = Path(log_path)
    if not path.exists():
        return f"ilsim: the step failed and wrote no log ({path})"
    text = path.read_text(errors="replace")
    message, cell = last_error(text)
    where = f" in notebook cell {cell}" if cell else ""
    if message:
        return f"ilsim: the step failed{where}:\n{message}\n(full traceback: {path})"
    last = "\n".join(_ANSI.sub("", text).rstrip().splitlines()[-tail:])
    return f"ilsim: the step failed; the last lines of {path}:\n{last}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ilsim.errors LOG", file=sys.stderr)
        return 2
    print(report(args[0]), file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
