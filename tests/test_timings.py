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
