"""Figures for `correlate`: GAP against each similarity scalar with its OLS line (paper 1, figs. 5
and 7), and GAP / APS against training step; for the leaderboard, the arms per subset with their
intervals. matplotlib with the Agg backend, written to PNG."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lslm_eval.report.regression import SIMILARITY_SCALARS, correlate

SCALAR_LABELS = {
    "f_bar_cos": r"$\bar f^{\cos}$ (sequence cosine)",
    "f_bar_d": r"$\bar f^{d}$ (sequence distance)",
    "aps_cos": r"APS$^{\cos}$",
    "aps_d": r"APS$^{d}$",
}
PANEL_SIZE = (4.2, 3.6)  # inches per panel
DPI = 120


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_correlation(source, path: str | os.PathLike, scalars: Sequence[str] = SIMILARITY_SCALARS,
                     group_by: str | None = None) -> Path:
    """One panel per scalar: checkpoints as points, one OLS line per group, R^2 in the legend."""
    result = correlate(source, scalars, group_by)
    groups = sorted({group for group, _ in result.fits})
    plt = pyplot()
    fig, axes = plt.subplots(1, len(scalars), figsize=(PANEL_SIZE[0] * len(scalars), PANEL_SIZE[1]), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, scalar in zip(axes[0], scalars):
        for index, group in enumerate(groups):
            members = [p for p in result.points if group_by is None or str(p[group_by]) == group]
            x = np.array([p[scalar] for p in members], dtype=float)
            y = np.array([p["gap"] for p in members], dtype=float)
            fit = result.fits[(group, scalar)]
            colour = colours(index % 10)
            name = "checkpoints" if group_by is None else group
            ax.scatter(x, y, color=colour, s=28, zorder=3, label=f"{name} (n={fit.n})")
            if fit.ok:
                line_x = np.linspace(x.min(), x.max(), 50)
                ax.plot(line_x, fit.slope * line_x + fit.intercept, color=colour, lw=1.5,
                        label=f"OLS fit, $R^2$={fit.r_squared:.2f}")
            else:
                ax.plot([], [], color=colour, lw=1.5, label=f"no fit: {fit.reason}")
        ax.set_xlabel(SCALAR_LABELS.get(scalar, scalar))
        ax.set_ylabel("GAP (points)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle("Modality gap vs speech-text similarity (one point per checkpoint)")
    return save(fig, path, plt)


def plot_training(source, path: str | os.PathLike, scalars: Sequence[str] = ("aps_cos", "aps_d"),
                  line_by: str = "model") -> Path:
    """GAP and each available scalar against training step, one line per `line_by` value (a model, a run)."""
    points = list(source.points() if hasattr(source, "points") else source)
    undated = [f"{p.get('model')}@{p.get('checkpoint')}" for p in points if p.get("step") is None]
    if undated:
        raise ValueError(f"no training step for {undated}: name checkpoints like checkpoint-2000 or give probes a 'step'")
    panels = ["gap"] + [s for s in scalars if all(isinstance(p.get(s), (int, float)) for p in points)]
    missing = [s for s in scalars if s not in panels]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(PANEL_SIZE[0] * len(panels), PANEL_SIZE[1]), squeeze=False)
    lines = sorted({str(p[line_by]) for p in points})
    for ax, key in zip(axes[0], panels):
        for line in lines:
            series = sorted((p["step"], p[key]) for p in points if str(p[line_by]) == line)
            ax.plot([s for s, _ in series], [v for _, v in series], marker="o", label=line)
        ax.set_xlabel("training step")
        ax.set_ylabel("GAP (points)" if key == "gap" else SCALAR_LABELS.get(key, key))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    title = "GAP and alignment over training"
    if missing:
        title += f" (no {', '.join(missing)} for every checkpoint)"
    fig.suptitle(title)
    return save(fig, path, plt)


def save(fig, path: str | os.PathLike, plt) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out



ARM_COLOURS = {"speech": "#d62728", "text": "#1f77b4", "text@base": "#2ca02c", "cascade": "#ff7f0e"}


def plot_arms(board, path: str | os.PathLike) -> Path:
    """Per-subset bars of every arm (points) with their bootstrap intervals, one panel per checkpoint."""
    plt = pyplot()
    rows = board.rows
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(6.0, 0.45 * len(board.subsets) * len(board.arms) + 2),
                                                     PANEL_SIZE[1] * len(rows)), squeeze=False)
    width = 0.8 / len(board.arms)
    x = np.arange(len(board.subsets))
    for ax, row in zip(axes[:, 0], rows):
        for j, arm in enumerate(board.arms):
            values, low, high = [], [], []
            for s in board.subsets:
                interval = row.subset_intervals.get((arm, s))
                value = interval.estimate if interval else board_value(row, arm, s)
                values.append(value)
                ok = interval is not None and np.isfinite(interval.low)
                low.append(value - interval.low if ok else 0.0)
                high.append(interval.high - value if ok else 0.0)
            ax.bar(x + (j - (len(board.arms) - 1) / 2) * width, values, width, yerr=[low, high], capsize=3,
                   color=ARM_COLOURS.get(arm), label=arm)
        ax.set_xticks(x, board.subsets)
        ax.set_ylabel("score (points)")
        ax.set_title(row.name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, ncol=len(board.arms))
    fig.suptitle(f"Arms per subset, {round(board.confidence * 100)}% stratified bootstrap intervals")
    return save(fig, path, plt)


def board_value(row, arm: str, subset: str) -> float:
    """A subset's score of one arm in points (no interval: no sample log)."""
    from lslm_eval.benchmarks import scale

    return scale(subset) * row.arms.get(arm, {}).get(subset, np.nan)
