"""Report files on disk: the leaderboard in its formats, and the correlation table with its figures.

Every writer returns the paths it wrote; the folder is created when missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

REPORT_FORMATS = ("md", "csv", "json", "html")
ARMS_FIGURE = "leaderboard_arms.png"
ARMS_CAPTION = "Arms per subset with their stratified bootstrap intervals"
CORRELATION_FIGURES = {  # file -> scalars on its panels: paper 1, fig. 5 (sequence level) and fig. 7 (APS)
    "gap_vs_sequence_similarity.png": ("f_bar_cos", "f_bar_d"),
    "gap_vs_aps.png": ("aps_cos", "aps_d"),
}


def write_leaderboard(board, out: str | os.PathLike, formats: Sequence[str] | None = None) -> list[Path]:
    """OUT/leaderboard.<format> for each of `formats` (default: every one of REPORT_FORMATS); the HTML page
    embeds the per-subset bar chart of the arms, also written as OUT/ARMS_FIGURE."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def html() -> str:
        from lslm_eval.report.figures import plot_arms

        figure = plot_arms(board, out / ARMS_FIGURE)
        written.append(figure)
        return board.to_html(figures=[(ARMS_CAPTION, figure.read_bytes())])

    render = {"md": board.to_markdown, "csv": board.to_csv, "json": board.to_json, "html": html}
    for name in formats or REPORT_FORMATS:
        path = out / f"leaderboard.{name}"
        path.write_text(render[name](), encoding="utf-8")
        written.append(path)
    return written


def training_run(checkpoint: str) -> str:
    """The training run a checkpoint belongs to: its parent folder (runs/qwen-lora/checkpoint-2000 -> runs/qwen-lora)."""
    return str(Path(checkpoint).parent) if checkpoint else "-"


def write_correlation(board, out: str | os.PathLike, scalars: Sequence[str], group_by: str | None):
    """OUT/correlation.csv and the figures -> (Correlation, written paths, undated row names).

    The training-step figure needs every row's step; `undated` names the rows without one (and then
    that figure is not drawn)."""
    from lslm_eval.report.figures import plot_correlation, plot_training
    from lslm_eval.report.regression import correlate

    points = [{**point, "run": training_run(point["checkpoint"])} for point in board.points()]
    result = correlate(points, scalars, group_by)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "correlation.csv").write_text(result.to_csv(), encoding="utf-8")
    written = [out / "correlation.csv"]
    for name, panels in CORRELATION_FIGURES.items():
        chosen = [scalar for scalar in panels if scalar in scalars]
        if chosen:
            written.append(plot_correlation(points, out / name, chosen, group_by))
    undated = [row.name for row in board.rows if row.step is None]
    if not undated:
        aps = [scalar for scalar in scalars if scalar.startswith("aps")]
        written.append(plot_training(points, out / "training.png", aps, line_by="run"))
    return result, written, undated
