"""Step 3 (notebook 03): perfect-foresight labels per segment and the imitation-learning pool
(one agent per ``il_train`` segment), with the checks that stop a degenerate pool."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ilsim import (
    experts,
    imitation,
    regimes,
)
from ilsim.learners import imitation_accuracy
from ilsim.nn import split_train_val
from ilsim.params import Params
from ilsim.plots.imitation import plot_training_curves
from ilsim.plots.segments import plot_label_mix
from ilsim.pool import (
    LearnerPool,
    il_datasets,
    il_train_config,
    make_method_learner,
    method_demos,
    pool_states,
)
from ilsim.report import write_table
from ilsim.run import Run
from ilsim.steps.result import StepResult, run_sections


def segment_labels(p: Params, bars: pd.DataFrame, segments: pd.DataFrame) -> pd.Series:
    """Expert labels (−1, 0, +1) of every bar inside a segment, each segment labelled alone;
    NaN outside segments."""
    seg_id = regimes.bar_segment_ids(segments, len(bars))
    inside = seg_id >= 0
    lab = np.full(len(bars), np.nan)
    lab[inside] = experts.expert_labels(
        bars["close"].to_numpy()[inside], p.experts.theta, segment_ids=seg_id[inside]
    )
    check_labels(p, bars, segments, lab)
    return pd.Series(lab, index=bars.index, name="label")


def largest_move(close: np.ndarray) -> float:
    """The largest later rise or fall from any bar, as a fraction of its close (the largest θ
    for which some bar gets a buy or sell label)."""
    c = np.asarray(close, dtype=np.float64)
    if len(c) < 2:
        return 0.0
    later_max = np.maximum.accumulate(c[::-1])[::-1][1:]
    later_min = np.minimum.accumulate(c[::-1])[::-1][1:]
    return float(max((later_max / c[:-1] - 1).max(), (1 - later_min / c[:-1]).max()))


def check_labels(p: Params, bars: pd.DataFrame, segments: pd.DataFrame, labels) -> None:
    """Fail when every ``il_train`` bar is labelled hold: the agents would learn one constant
    action. The message gives the largest move θ would have to stay below."""
    lab = np.asarray(labels, dtype=np.float64)
    mask = regimes.role_mask(segments, len(bars), "il_train")
    if not mask.any() or (lab[mask] != 0).any():
        return
    close = bars["close"].to_numpy()
    moves = {
        int(s.segment): largest_move(close[s.first_bar : s.last_bar + 1])
        for s in segments[segments["role"] == "il_train"].itertuples(index=False)
    }
    best = max(moves.values())
    raise ValueError(
        f"every il_train bar is labelled hold: within its segment no close later rises or falls "
        f"by experts.theta = {p.experts.theta:.1%} (the largest move inside an il_train segment "
        f"is {best:.1%}, segment {max(moves, key=moves.get)}), so the IL agents would learn "
        f"nothing but hold. Set experts.theta below {best:.1%} (e.g. {best / 2:.1%}), or give "
        "segments with larger moves the role il_train"
    )


def label_mix(segments: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """Share of buy / hold / sell labels per segment."""
    seg_id = regimes.bar_segment_ids(segments, len(labels))
    lab = labels.to_numpy()
    rows = []
    for s in segments.itertuples(index=False):
        x = lab[seg_id == s.segment]
        rows.append(
            {
                "segment": s.segment,
                "regime": s.regime,
                "role": s.role,
                "bars": len(x),
                "buy": float((x == 1).mean()),
                "hold": float((x == 0).mean()),
                "sell": float((x == -1).mean()),
            }
        )
    return pd.DataFrame(rows)


def train_il_pool(
    p: Params,
    segments: pd.DataFrame,
    scaled: pd.DataFrame,
    labels: pd.Series,
    root: str | Path = ".",
    progress: bool = True,
) -> tuple[imitation.TrainResult, pd.DataFrame]:
    """Train one agent per ``il_train`` segment; save the checkpoint, curves and fit table."""
    run = Run(p, root)
    datasets, ids = il_datasets(segments, scaled, labels)
    c = p.il
    if c.method != "bc":
        return _train_method_pool(p, segments, scaled, ids, root)
    cfg = il_train_config(p, p.seed)
    result = imitation.train_ensemble(datasets, cfg, progress=progress)
    imitation.save_agents(
        result.model.cpu(),
        run.path("il_agents.pt"),
        {"segments": ids, "features": list(scaled.columns)},
    )
    result.history.to_csv(run.path("il_history.csv"), index=False)
    regime = segments.set_index("segment")["regime"]
    rows = []
    for i, ((x, y), seg) in enumerate(zip(datasets, ids, strict=True)):
        tr, va = split_train_val(len(y), c.val_fraction)
        with torch.no_grad():
            every = result.model.act(torch.as_tensor(x))[:, i].numpy()
        pred = every[va]
        q = imitation.fit_quality(pred, y[va], c.hold_band)
        rows.append(
            {
                "agent": f"IL{i + 1}",
                "segment": seg,
                "regime": regime[seg],
                "train_bars": len(tr),
                "val_bars": len(va),
                "best_epoch": result.best_epoch[i],
                "val_mse": q["mse"],
                "val_accuracy": q["accuracy"],
                "val_majority_rate": q["majority_rate"],
                "one_class": one_class_note(
                    imitation.action_classes(every, c.hold_band), y.astype(int)
                ),
            }
        )
    fit = pd.DataFrame(rows)
    write_table(fit, p.tables_dir(root), "il_fit", floatfmt=".3g")
    check_pool(fit)
    return result, fit


ACTION_NAMES = {-1: "sell", 0: "hold", 1: "buy"}


def one_class_note(predicted: np.ndarray, labels: np.ndarray) -> str:
    """Which one action class an agent never leaves on its own segment's bars, and whether it
    is its labels' majority class; the empty string when its classes vary."""
    cls = np.unique(np.asarray(predicted).astype(int))
    if len(cls) != 1:
        return ""
    name = ACTION_NAMES[int(cls[0])]
    values, counts = np.unique(np.asarray(labels).astype(int), return_counts=True)
    if len(values) == 1:
        return f"only {name}; its labels are all {ACTION_NAMES[int(values[0])]}"
    major = ACTION_NAMES[int(values[counts.argmax()])]
    return f"only {name}, its majority class" if name == major else f"only {name}"


def check_pool(fit: pd.DataFrame) -> None:
    """Say which IL agents never leave one action class on their own segment (column
    ``one_class`` of the fit table: often their labels' majority class, the segment's
    "style"); fail when every agent is stuck in the same class, so that the pool hands the
    simulator one constant behaviour and nothing to mix."""
    if "one_class" not in fit:
        return
    notes = fit["one_class"].fillna("").astype(str)
    stuck = fit[notes != ""]
    if stuck.empty:
        return
    which = "; ".join(f"{r.agent} (segment {r.segment}): {r.one_class}" for r in stuck.itertuples())
    fix = (
        "lower experts.theta for more buy and sell labels (tables/il_labels), train longer "
        "(il.max_epochs, il.patience), or narrow il.hold_band"
    )
    classes = set(notes.str.extract(r"^only (\w+)")[0])
    if len(stuck) == len(fit) and len(classes) == 1:
        raise ValueError(
            f"every IL agent predicts {classes.pop()} on every bar of its segment ({which}): the "
            f"pool gives the simulator one constant behaviour and nothing to mix. To change it: "
            f"{fix}"
        )
    print(
        f"Warning: {len(stuck)} of {len(fit)} IL agents never leave one action class on their "
        f"segment ({which}); to change it: {fix}"
    )


def _train_method_pool(
    p: Params, segments: pd.DataFrame, scaled: pd.DataFrame, ids: list[int], root: str | Path
) -> tuple[None, pd.DataFrame]:
    """``il.method`` other than "bc": one learner of that method per il_train segment on the
    hindsight demonstrations, saved as a :class:`LearnerPool`; the fit table gives each
    learner's in-segment accuracy."""
    run = Run(p, root)
    bars = run.bars()
    demos = method_demos(p, "hindsight", bars, scaled, segments)
    learners, rows = [], []
    regime = segments.set_index("segment")["regime"]
    for i, seg in enumerate(ids):
        own = demos.select_segments([seg])
        learner = make_method_learner(p, p.il.method).fit(own, seed=p.seed)
        learners.append(learner)
        acts = learner.act(pool_states(learner, own.states))
        acc = imitation_accuracy(acts, own.actions, p.il.hold_band)
        rows.append(
            {
                "agent": f"IL{i + 1}",
                "segment": seg,
                "regime": regime[seg],
                "method": p.il.method,
                "train_bars": len(own),
                **acc,
                "one_class": one_class_note(
                    imitation.action_classes(np.asarray(acts), p.il.hold_band),
                    imitation.action_classes(np.asarray(own.actions), p.il.hold_band),
                ),
            }
        )
    pool = LearnerPool(learners, ids)
    meta = {"segments": ids, "method": p.il.method}
    torch.save(pool.state(meta), run.path("il_agents.pt"))
    pd.DataFrame(columns=["epoch", "agent", "train_mse", "val_mse"]).to_csv(
        run.path("il_history.csv"), index=False
    )
    fit = pd.DataFrame(rows)
    write_table(fit, p.tables_dir(root), "il_fit", floatfmt=".3g")
    check_pool(fit)
    return None, fit


def expert_labels(p: Params, root: str | Path = ".") -> StepResult:
    """Section 1: the perfect-foresight labels of every segment and their mix."""
    run = Run(p, root)
    r = StepResult()
    bars = run.bars()
    segments = run.segments()
    labels = segment_labels(p, bars, segments)
    labels.to_frame().to_parquet(run.path("labels.parquet"))
    mix = label_mix(segments, labels)
    r.values["labels"] = labels
    r.write_table(mix, p.tables_dir(root), "il_labels", floatfmt=".3f")
    r.save_figure(plot_label_mix(mix), p.figures_dir(root), "fig_il_labels")
    r.notes["labels"] = _labels_note(p, mix)
    return r


def train_pool(p: Params, root: str | Path = ".") -> StepResult:
    """Section 2: the pool (``il.method``), one agent per ``il_train`` segment, and its fit."""
    run = Run(p, root)
    r = StepResult()
    segments = run.segments()
    scaled = run.features()
    labels = pd.read_parquet(run.path("labels.parquet")).iloc[:, 0]
    result, fit = train_il_pool(p, segments, scaled, labels, root)
    r.values.update(pool=result, fit=fit)
    r.tables["il_fit"] = fit
    history = pd.read_csv(run.path("il_history.csv"))  # empty for non-BC methods
    r.save_figure(plot_training_curves(history), p.figures_dir(root), "fig_il_training")
    r.notes["fit"] = _fit_note(p, fit)
    return r


SECTIONS = (expert_labels, train_pool)


def run(p: Params, root: str | Path = ".") -> StepResult:
    """Step 3 whole (its notebook's sections in order): labels and their mix per segment, the
    pool (``il.method``) and its fit; writes every output of rule ``imitation``."""
    return run_sections(SECTIONS, p, root)


def _labels_note(p: Params, mix: pd.DataFrame) -> str:
    """The agents' training segments and their labels' shares, weighted by bars."""
    train = mix[mix["role"] == "il_train"]
    share = train[["buy", "hold", "sell"]].mul(train["bars"], axis=0).sum() / train["bars"].sum()
    return (
        f"theta = {p.experts.theta:.0%}; {len(train)} agents, on segments "
        f"{train['segment'].tolist()}\n"
        + "il_train labels: "
        + ", ".join(f"{k} {v:.1%}" for k, v in share.items())
    )


def _fit_note(p: Params, fit: pd.DataFrame) -> str:
    """How many agents beat their majority class, in words that follow the count."""
    acc = fit["val_accuracy"] if "val_accuracy" in fit else fit["accuracy"]
    maj = fit["val_majority_rate"] if "val_majority_rate" in fit else fit["majority_rate"]
    beats = int((acc > maj).sum())
    return (
        f"Pool built by `{p.il.method}`. Accuracy of the action class (|a| ≤ {p.il.hold_band} is "
        "*hold*; validation blocks for BC, the training segment otherwise): "
        f"{acc.min():.2f} … {acc.max():.2f} (mean {acc.mean():.2f}); the majority-class rate of "
        f"the same bars averages {maj.mean():.2f}. {beats} of {len(fit)} agents beat their "
        "majority class"
        + (
            ": for most agents the past bars say little more about the next θ move than always "
            "predicting the segment's most common label."
            if beats <= len(fit) / 2
            else ": most agents read more from the past bars than the most common label gives."
        )
    )
