"""Timings stay out of the tables: the timings file keeps the latest per step and item."""

import pandas as pd

from ilsim import timings


def test_record_replaces_and_split_moves_the_column(tmp_path):
    timings.record(tmp_path, "train", "a", 1.0)
    timings.record(tmp_path, "train", "b", 2.0)
    timings.record(tmp_path, "train", "a", 3.0)
    t = timings.load(tmp_path)
    assert t.set_index("item")["seconds"].to_dict() == {"a": 3.0, "b": 2.0}
    table = pd.DataFrame({"method": ["bc", "gail"], "acc": [0.5, 0.6], "fit_seconds": [4.0, 5.0]})
    out = timings.split_timings(table, "fit_seconds", "il_methods", ["method"], tmp_path)
    assert list(out.columns) == ["method", "acc"]
    t = timings.load(tmp_path)
    assert t[t["step"] == "il_methods"].set_index("item")["seconds"].to_dict() == {
        "bc": 4.0,
        "gail": 5.0,
    }
    assert timings.split_timings(out, "fit_seconds", "x", ["method"], tmp_path) is out


def test_parallel_jobs_never_lose_or_break_a_timing(tmp_path):
    """Two processes recording at once (two Snakemake jobs): every line is kept."""
    import subprocess
    import sys

    code = (
        "import sys; from ilsim import timings\n"
        "for i in range(150): timings.record(sys.argv[1], sys.argv[2], f'item {i}, x', i)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), step]) for step in "ab"]
    assert all(p.wait() == 0 for p in procs)
    t = timings.load(tmp_path)
    assert len(t) == 300 and set(t["step"]) == {"a", "b"}
    assert t[t["step"] == "a"].set_index("item").loc["item 7, x", "seconds"] == 7.0


def test_load_reads_a_file_an_earlier_version_wrote_with_a_header(tmp_path):
    from ilsim import timings

    timings.timings_path(tmp_path).write_text("step,item,seconds\ntrain,a,1.5\n")
    timings.record(tmp_path, "train", "b", 2.0)
    rows = timings.load(tmp_path)
    assert rows["item"].tolist() == ["a", "b"] and rows["seconds"].tolist() == [1.5, 2.0]
