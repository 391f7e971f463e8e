"""``ilsim verify NAME``: a run's fresh tables against the tracked reference (issue 24).

The reference of a shipped run (``default``, ``paper``) is what git tracks under
``reports/<name>/`` — its tables (CSV) and its two reports (``reproduction.md``,
``data_import.md``). A run rewrites those files in place, so after a run the working tree holds
the fresh outputs and the commit holds the reference: :func:`verify` compares the two, table by
table, byte for byte. For a table that differs it names the rows and columns that moved and
the largest absolute and relative change, so "which number moved, and by how much" is one
command away; any difference exits 1 (CI runs it after ``snakemake -j2``).

Byte equality is the test on the machine kind the reference was made on (CPU, fixed seeds:
the same params give the same bytes). Elsewhere — another CPU kind, or CUDA, whose kernels
round differently and whose trainings therefore diverge — ``rtol``/``atol`` compare numbers
with a stated tolerance instead, and the report says so.
"""

from __future__ import annotations

import difflib
import io
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DOCUMENTS = ("reproduction.md", "data_import.md")  # compared as text beside the tables
TOP = 5  # changed cells listed per differing table


class VerifyError(RuntimeError):
    """The reference or the run cannot be read (no git, no tracked reference, no run)."""


@dataclass
class Change:
    """One cell that moved: its row (by the table's key columns), column and values."""

    row: str
    column: str
    reference: object
    fresh: object

    @property
    def absolute(self) -> float:
        try:
            return abs(float(self.fresh) - float(self.reference))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return math.nan

    @property
    def relative(self) -> float:
        try:
            ref = float(self.reference)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return math.nan
        return self.absolute / abs(ref) if ref != 0 else math.inf


@dataclass
class FileResult:
    """The comparison of one tracked file: identical, or what differs."""

    name: str
    status: str = "identical"  # identical | differs | within tolerance | missing | new
    changes: list[Change] = field(default_factory=list)
    n_changed: int = 0
    note: str = ""

    @property
    def identical(self) -> bool:
        """Matches the reference (byte for byte, or within a stated tolerance)."""
        return self.status in ("identical", "within tolerance")

    def lines(self) -> list[str]:
        """The file's verdict and, when it differs, its largest changes."""
        head = f"{'ok  ' if self.identical else 'DIFF'} {self.name}: {self.status}"
        if self.note:
            head += f" ({self.note})"
        out = [head]
        if self.changes:
            out.append(f"       {self.n_changed} cell(s) moved; the largest:")
            for c in self.changes:
                out.append(
                    f"       row {c.row} · column {c.column}: {c.reference} -> {c.fresh} "
                    f"(abs {_fmt(c.absolute)}, rel {_fmt(c.relative)})"
                )
        return out


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf"
    return f"{x:.3g}"


def _key_columns(df: pd.DataFrame) -> list[str]:
    """The columns that name a row: the leading non-numeric ones (at most three), else the
    leading integer ones (``seed``, ``segment``)."""
    keys = []
    for col in df.columns[:3]:
        if pd.api.types.is_numeric_dtype(df[col]):
            break
        keys.append(col)
    if not keys:
        for col in df.columns[:2]:
            if not pd.api.types.is_integer_dtype(df[col]):
                break
            keys.append(col)
    return keys


def _row_label(df: pd.DataFrame, i: int, keys: list[str]) -> str:
    if not keys:
        return str(i)
    return f"{i} [" + ", ".join(f"{k}={df.iloc[i][k]}" for k in keys) + "]"


def compare_table(
    name: str, reference: bytes, fresh: bytes, rtol: float = 0.0, atol: float = 0.0
) -> FileResult:
    """Compare two CSV tables: byte for byte, then cell by cell to say what moved (numbers
    within ``rtol``/``atol`` count as equal only when a tolerance is given). Rows are matched
    by the table's key columns when they name each row once on both sides (so an added or
    removed row is named as such), else by position."""
    if reference == fresh:
        return FileResult(name)
    try:
        ref, new = pd.read_csv(io.BytesIO(reference)), pd.read_csv(io.BytesIO(fresh))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        out = compare_text(name, reference, fresh)
        out.note = f"not readable as a table ({type(err).__name__}); as text: {out.note}"
        return out
    notes = []
    if list(ref.columns) != list(new.columns):
        gone = [c for c in ref.columns if c not in new.columns]
        added = [c for c in new.columns if c not in ref.columns]
        notes.append(
            f"columns removed {gone}, added {added}" if gone or added else "columns reordered"
        )
    keys = _key_columns(ref)
    if keys and all(k in new for k in keys) and _unique(ref, keys) and _unique(new, keys):
        ref, new = ref.set_index(keys), new.set_index(keys)
        a_keys, b_keys = set(ref.index), set(new.index)
        gone_rows = [k for k in ref.index if k not in b_keys]
        new_rows = [k for k in new.index if k not in a_keys]
        if gone_rows:
            notes.append(f"rows removed: {_keys_text(keys, gone_rows)}")
        if new_rows:
            notes.append(f"rows added: {_keys_text(keys, new_rows)}")
        both = [k for k in ref.index if k in b_keys]
        ref = ref.loc[both].reset_index()
        new = new.loc[both].reset_index()
    elif len(ref) != len(new):
        notes.append(f"{len(ref)} rows -> {len(new)} rows")
    cols = [c for c in ref.columns if c in new.columns]
    n = min(len(ref), len(new))
    changes: list[Change] = []
    for col in cols:
        a, b = ref[col].iloc[:n], new[col].iloc[:n]
        if pd.api.types.is_integer_dtype(a) and pd.api.types.is_integer_dtype(b):
            same = a.to_numpy() == b.to_numpy()  # exact (a float cast hides changes > 2**53)
        elif pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(float), b.to_numpy(float)
            same = (x == y) | (np.isnan(x) & np.isnan(y))
            if rtol or atol:
                same |= np.isclose(x, y, rtol=rtol, atol=atol)
        else:
            same = ((a.astype(str) == b.astype(str)) | (a.isna() & b.isna())).to_numpy()
        for i in np.flatnonzero(~same):
            changes.append(Change(_row_label(ref, int(i), keys), str(col), a.iloc[i], b.iloc[i]))
    if not changes and not notes:
        # equal numbers, other bytes: the formatting moved (or within the tolerance)
        status = "within tolerance" if (rtol or atol) else "differs"
        note = "" if (rtol or atol) else "same values, other text (formatting)"
        return FileResult(name, status, note=note)

    def size(c: Change) -> float:  # a number that appeared or vanished ranks first
        x = c.absolute
        if math.isnan(x):
            return math.inf if _is_number(c.reference) or _is_number(c.fresh) else -1.0
        return x

    ranked = sorted(changes, key=size, reverse=True)
    top = ranked[:TOP]
    by_rel = [c for c in changes if not math.isnan(c.relative)]
    if by_rel:
        worst_rel = max(by_rel, key=lambda c: c.relative)
        if worst_rel not in top:
            top.append(worst_rel)
    return FileResult(name, "differs", top, len(changes), "; ".join(notes))


def _unique(df: pd.DataFrame, keys: list[str]) -> bool:
    return not df.duplicated(subset=keys).any()


def _keys_text(keys: list[str], rows: list) -> str:
    shown = [k if isinstance(k, tuple) else (k,) for k in rows[:TOP]]
    text = "; ".join(", ".join(f"{c}={v}" for c, v in zip(keys, k, strict=True)) for k in shown)
    return text + (f" … and {len(rows) - TOP} more" if len(rows) > TOP else "")


def _is_number(x: object) -> bool:
    try:
        return not math.isnan(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def compare_text(name: str, reference: bytes, fresh: bytes) -> FileResult:
    """Compare a report as text: identical, or how many lines differ and the first one."""
    if reference == fresh:
        return FileResult(name)
    a = reference.decode(errors="replace").splitlines()
    b = fresh.decode(errors="replace").splitlines()
    if a == b:
        return FileResult(name, "differs", note="same lines, other line endings")
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    changed = [op for op in ops if op[0] != "equal"]
    n_lines = sum(max(i2 - i1, j2 - j1) for _, i1, i2, j1, j2 in changed)
    _, i1, _, j1, j2 = changed[0]
    line = (b[j1] if j1 < j2 else "<removed>")[:100]
    note = f"{n_lines} line(s) differ; first at line {i1 + 1}: {line!r}"
    return FileResult(name, "differs", note=note)


def compare_dirs(
    reference: dict[str, bytes], fresh: dict[str, bytes], rtol: float = 0.0, atol: float = 0.0
) -> list[FileResult]:
    """Every file of ``reference`` against ``fresh`` (both: relative name -> bytes); a file on
    one side only is a difference."""
    out = []
    for name in sorted(set(reference) | set(fresh)):
        if name not in fresh:
            out.append(FileResult(name, "missing", note="in the reference, not in the run"))
        elif name not in reference:
            out.append(FileResult(name, "new", note="in the run, not in the reference"))
        elif name.endswith(".csv"):
            out.append(compare_table(name, reference[name], fresh[name], rtol, atol))
        else:
            out.append(compare_text(name, reference[name], fresh[name]))
    return out


def fresh_files(run_dir: Path) -> dict[str, bytes]:
    """A run's tables and reports as written (``reports/<name>/``)."""
    files = {f"tables/{f.name}": f.read_bytes() for f in sorted((run_dir / "tables").glob("*.csv"))}
    for doc in DOCUMENTS:
        if (run_dir / doc).is_file():
            files[doc] = (run_dir / doc).read_bytes()
    return files


def _git(root: Path, *args: str) -> bytes:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], check=True, capture_output=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", b"") or b""
        raise VerifyError(f"git {' '.join(args)}: {detail.decode().strip() or err}") from err


def tracked_files(name: str, root: str | Path = ".", rev: str = "HEAD") -> dict[str, bytes]:
    """The reference: the tables and reports git tracks under ``reports/<name>/`` at ``rev``."""
    root = Path(root)
    prefix = f"reports/{name}/"
    raw = _git(root, "ls-tree", "-r", "-z", "--name-only", rev, "--", prefix)
    listing = [p for p in raw.decode().split("\0") if p]
    wanted = [p for p in listing if _is_compared(p[len(prefix) :])]
    if not wanted:
        raise VerifyError(
            f"no tracked reference for run {name!r} at {rev} (git ls-tree {rev} {prefix} lists "
            "no tables): the shipped runs are 'default' and 'paper'"
        )
    return {p[len(prefix) :]: _git(root, "show", f"{rev}:{p}") for p in wanted}


def _is_compared(rel: str) -> bool:
    return (rel.startswith("tables/") and rel.endswith(".csv") and rel.count("/") == 1) or (
        rel in DOCUMENTS
    )


def reference_dir_files(directory: str | Path) -> dict[str, bytes]:
    """A reference kept as a folder (a copy of ``reports/<name>/``) instead of in git."""
    d = Path(directory)
    if not (d / "tables").is_dir():
        raise VerifyError(f"{d}: no tables/ folder: not a copy of reports/<name>/")
    return fresh_files(d)


def verify(
    name: str,
    root: str | Path = ".",
    reference: str | Path | None = None,
    rev: str = "HEAD",
    rtol: float = 0.0,
    atol: float = 0.0,
) -> list[FileResult]:
    """Compare run ``name``'s tables and reports (``reports/<name>/``) with the reference:
    git's ``rev`` by default, or a folder."""
    run_dir = Path(root) / "reports" / name
    if not (run_dir / "tables").is_dir():
        raise VerifyError(
            f"{run_dir}/tables: not found: run the pipeline first "
            f"(snakemake -j2{'' if name == 'default' else f' --configfile params/{name}.yaml'})"
        )
    ref = reference_dir_files(reference) if reference else tracked_files(name, root, rev)
    return compare_dirs(ref, fresh_files(run_dir), rtol, atol)


def summary(results: list[FileResult], name: str, rtol: float = 0.0, atol: float = 0.0) -> str:
    """The printed report: how it compared, one verdict per file, then the count."""
    if rtol or atol:
        how = (
            f"numbers compared with rtol={rtol:g}, atol={atol:g} (a stated tolerance: another "
            "machine kind or CUDA rounds differently, so the bytes cannot match)"
        )
    else:
        how = "byte for byte (CPU, the same machine kind as the reference)"
    lines = [f"ilsim verify {name}: {len(results)} files, {how}"]
    for r in results:
        lines += r.lines()
    bad = [r for r in results if not r.identical]
    close = [r for r in results if r.status == "within tolerance"]
    if bad:
        lines.append(
            f"{len(bad)} of {len(results)} differ from the reference: a change that moves a "
            "number updates the tracked reference in the same commit and says why"
        )
    elif close:
        lines.append(
            f"all {len(results)} match the reference: {len(results) - len(close)} identical, "
            f"{len(close)} within the stated tolerance"
        )
    else:
        lines.append(f"all {len(results)} identical to the reference")
    return "\n".join(lines)
