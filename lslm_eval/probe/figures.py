"""PNG figures from the JSON dicts of `stats` and `cka` (so they can be redrawn from files later).

    plot_sequence_curves   per-layer cosine and L2 of span means, one line per checkpoint (paper 1, fig. 4)
    plot_alignment_case    one item's A^cos and A^d with the alignment paths (paper 1, fig. 6)
    plot_path_statistics   monotonicity (cos, dist) and path consistency per layer (paper 1, fig. 8)
    plot_cka               the (speech layer, text layer) CKA heatmap (paper 2)

Figures are drawn on `matplotlib.figure.Figure` (Agg canvas), never through pyplot's global state.
JSON nulls (undefined values) are drawn as gaps or grey cells.
"""

from __future__ import annotations

import json

import math
from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

DPI = 150
PANEL_SIZE = (4.6, 3.4)
UNDEFINED_COLOR = "#d9d9d9"


def _array(values) -> np.ndarray:
    """A (nested) list with None -> float array with NaN."""
    return np.array(_none_to_nan(list(values)), dtype=float)


def _none_to_nan(values):
    return [_none_to_nan(v) if isinstance(v, list) else (math.nan if v is None else v) for v in values]


def _shades(cmap: str, count: int) -> list:
    """`count` colours from light to dark: later checkpoints darker."""
    return [colormaps[cmap](x) for x in np.linspace(0.35, 0.95, count)] if count > 1 else [colormaps[cmap](0.8)]


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


PROBE_FIELDS = ("sequence.cos", "sequence.dist", "monotonicity.cos.per_layer", "monotonicity.dist.per_layer",
                "consistency.per_layer")  # what the figures read from a probe file (Prober.write)
CASE_FIELDS = ("cos", "dist", "path_cos", "path_dist", "layer")  # ... and from an alignment case file


def check_fields(data, fields: tuple[str, ...], source: str, kind: str) -> None:
    """ValueError naming `source` and the missing dotted fields unless `data` has them all."""
    def has(path: str) -> bool:
        node = data
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
        return True

    missing = [f for f in fields if not has(f)]
    if missing:
        found = sorted(data) if isinstance(data, Mapping) else type(data).__name__
        raise ValueError(f"{source} is not {kind}: it lacks {missing} (top-level keys: {found})")


def load_json_file(path: str | Path, fields: tuple[str, ...], kind: str):
    """A JSON file checked to hold `fields`; errors name the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read {kind}: {err}") from err
    check_fields(data, fields, str(path), kind)
    return data


def _check_results(results: Mapping[str, dict]) -> None:
    if not results:
        raise ValueError("no results to plot: pass {checkpoint label: ProbeStatistics.result()}")


def plot_sequence_curves(results: Mapping[str, dict], path: str | Path) -> Path:
    """{checkpoint label: ProbeStatistics.result()} -> cosine (left) and L2 distance (right) per layer."""
    _check_results(results)
    fig = Figure(figsize=(2 * PANEL_SIZE[0], PANEL_SIZE[1]), layout="constrained")
    ax_cos, ax_dist = fig.subplots(1, 2)
    for (label, result), c_cos, c_dist in zip(results.items(), _shades("Blues", len(results)), _shades("Oranges", len(results))):
        cos, dist = _array(result["sequence"]["cos"]), _array(result["sequence"]["dist"])
        ax_cos.plot(np.arange(len(cos)), cos, marker="o", markersize=3, color=c_cos, label=label)
        ax_dist.plot(np.arange(len(dist)), dist, marker="o", markersize=3, color=c_dist, label=label)
    ax_cos.set(title="cosine of span means", xlabel="layer (0 = input embeddings)", ylabel="cosine")
    ax_dist.set(title="L2 distance of span means", xlabel="layer (0 = input embeddings)", ylabel="distance")
    for ax in (ax_cos, ax_dist):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, title="checkpoint", title_fontsize=7)
    return _save(fig, path)


def plot_alignment_case(case: Mapping, path: str | Path) -> Path:
    """stats.alignment_case(...) -> A^cos and A^d heatmaps (speech frame i vs text token j), paths as diamonds."""
    fig = Figure(figsize=(2 * PANEL_SIZE[0], PANEL_SIZE[1] + 0.6), layout="constrained")
    panels = (("cos", "path_cos", "viridis", "cosine similarity (path: argmax)"),
              ("dist", "path_dist", "magma_r", "Euclidean distance (path: argmin)"))
    for ax, (matrix_key, path_key, cmap, title) in zip(fig.subplots(1, 2), panels):
        matrix = _array(case[matrix_key])
        image = ax.imshow(matrix, origin="lower", aspect="auto", cmap=cmap, interpolation="nearest")
        tokens = np.arange(matrix.shape[1])
        ax.plot(tokens, case[path_key], linestyle="none", marker="D", markersize=4, markerfacecolor="white",
                markeredgecolor="red", label="alignment path")
        ax.set(title=title, xlabel="text token j", ylabel="speech frame i")
        if case.get("tokens"):  # the tokens by their text, not their index
            ax.set_xticks(tokens, labels=[str(token).strip() or repr(token) for token in case["tokens"]],
                          rotation=90, fontsize=6)
            ax.set_xlabel("text token")
        ax.legend(fontsize=7, loc="upper left")
        fig.colorbar(image, ax=ax, shrink=0.9)
    key = f" {case['key']}" if case.get("key") else ""
    checkpoint = f"{Path(str(case['checkpoint'])).name}: " if case.get("checkpoint") else ""
    fig.suptitle(f"{checkpoint}item{key}, layer {case['layer']}")
    return _save(fig, path)


def plot_path_statistics(results: Mapping[str, dict], path: str | Path) -> Path:
    """{checkpoint label: ProbeStatistics.result()} -> monotonicity (cos, dist) and consistency per layer."""
    _check_results(results)
    fig = Figure(figsize=(3 * PANEL_SIZE[0], PANEL_SIZE[1]), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    panels = (("Spearman monotonicity, cosine path", lambda r: r["monotonicity"]["cos"]["per_layer"]),
              ("Spearman monotonicity, distance path", lambda r: r["monotonicity"]["dist"]["per_layer"]),
              ("path consistency (cos = dist)", lambda r: r["consistency"]["per_layer"]))
    colors = _shades("viridis_r", len(results))
    for ax, (title, values) in zip(axes, panels):
        for (label, result), color in zip(results.items(), colors):
            curve = _array(values(result))
            ax.plot(np.arange(len(curve)), curve, marker="o", markersize=3, color=color, label=label)
        ax.set(title=title, xlabel="layer (0 = input embeddings)")
        ax.axhline(0, color="black", linewidth=0.6)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean over items")
    axes[-1].legend(fontsize=7, title="checkpoint", title_fontsize=7, loc="lower right")
    return _save(fig, path)


def plot_cka(result: Mapping, path: str | Path, label: str | None = None) -> Path:
    """CrossLayerCKA.result() -> heatmap of CKA(speech layer l, text layer m); grey = undefined or not computed.
    `label` (the checkpoint) leads the title."""
    matrix = np.ma.masked_invalid(_array(result["matrix"]))
    fig = Figure(figsize=(PANEL_SIZE[0] + 0.8, PANEL_SIZE[0]), layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["viridis"].with_extremes(bad=UNDEFINED_COLOR)
    low = min(0.0, float(matrix.min())) if matrix.count() else 0.0  # negative debiased values stay visible
    image = ax.imshow(matrix, origin="lower", cmap=cmap, vmin=low, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.85, label="linear CKA")
    kind = "debiased " if result.get("debiased") else ""
    note = "   (grey: undefined or not computed)" if np.ma.getmaskarray(matrix).any() else ""
    named = f"{label}: " if label else ""
    ax.set(title=f"{named}{kind}CKA, {result.get('view', '')} view (n = {result.get('n_rows', '?')} rows)",
           xlabel="text layer m" + note, ylabel="speech layer l")
    return _save(fig, path)
