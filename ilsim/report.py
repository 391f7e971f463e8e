"""Tables and reports: CSV plus Markdown, written by the pipeline (no number typed by hand)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4g", index: bool = False) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    frame = df.reset_index() if index else df

    def fmt(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else format(float(v), floatfmt)
        return str(v)

    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


def write_table(
    df: pd.DataFrame, directory: str | Path, stem: str, floatfmt: str = ".4g"
) -> list[Path]:
    """Write ``stem.csv`` and ``stem.md`` into ``directory``; return both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv, md = directory / f"{stem}.csv", directory / f"{stem}.md"
    df.to_csv(csv, index=False)
    md.write_text(markdown_table(df, floatfmt))
    return [csv, md]


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding ``pyproject.toml`` and ``Snakefile``, searched upwards from ``start``."""
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "Snakefile").exists() and (p / "pyproject.toml").exists():
            return p
    raise FileNotFoundError(f"no ilsim project (Snakefile + pyproject.toml) above {here}")


def paper_table(name: str, root: str | Path | None = None) -> pd.DataFrame:
    """One of the paper's own tables, from ``paper/<name>.csv`` (see ``paper/README.md``)."""
    base = project_root(root) if root is None or not (Path(root) / "paper").exists() else Path(root)
    return pd.read_csv(base / "paper" / f"{name}.csv")


def beside_paper(
    ours: pd.DataFrame, paper: pd.DataFrame, key: str, columns: list[str]
) -> pd.DataFrame:
    """Ours next to the paper's: for each column ``c``: ``c`` (ours), ``c_paper``, ``c_diff``.

    Rows follow the paper's order, then any rows only we have."""
    order = list(dict.fromkeys([*paper[key], *ours[key]]))
    a = ours.set_index(key)[columns].reindex(order)
    b = paper.set_index(key)[columns].reindex(order)
    out = pd.DataFrame({key: order})
    for c in columns:
        out[c] = a[c].to_numpy()
        out[f"{c}_paper"] = b[c].to_numpy()
        out[f"{c}_diff"] = out[c] - out[f"{c}_paper"]
    return out
