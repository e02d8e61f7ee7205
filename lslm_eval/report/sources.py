"""What the report verbs read: probe files found in folders, and either side of the regression gate.

A gate side is a run folder (or results_*.json), a leaderboard JSON or a flat metric JSON; every
form becomes the same `GateSide` (metrics by run, and without the run prefix when it holds one
checkpoint). Unusable input raises ValueError or OSError naming the file.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROBE_FILE = "probe.json"  # lslm_eval.probe.runner.AGGREGATES_FILE (not imported: that pulls in torch)


def find_probe_files(entries) -> list[Path]:
    """--probe arguments: probe JSON files, or folders searched for the Prober's probe.json."""
    files: list[Path] = []
    for entry in entries or []:
        path = Path(entry)
        if path.is_dir():
            found = sorted(path.rglob(PROBE_FILE))
            if not found:
                raise FileNotFoundError(f"--probe {path}: no {PROBE_FILE} inside (written by probe=DIR or lslm-eval probe)")
            files += found
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def print_notes(label: str, notes) -> None:
    for note in notes:
        print(f"{label}: {note}", file=sys.stderr)


@dataclass(frozen=True)
class GateSide:
    """One side of `compare`: metrics named by run, the same without the run prefix when the side
    holds one checkpoint (else None), and the leaderboard when built from run folders."""

    by_run: dict
    single: dict | None
    board: Any = None


def gate_side(source: str, **board_options) -> GateSide:
    """A run folder (or results_*.json), a leaderboard JSON, or a flat metric JSON -> its metrics.

    `board_options` go to `build_leaderboard` when `source` is lm-eval output."""
    from lslm_eval.report.gate import load_metric_table
    from lslm_eval.report.leaderboard import build_leaderboard
    from lslm_eval.report.runs import RESULTS_PATTERN, RunKey

    path = Path(source)
    if path.is_dir() or RESULTS_PATTERN.match(path.name):
        board = build_leaderboard([path], (), **board_options)
        print_notes(source, board.notes)
        return GateSide(board.metric_table(), board.metric_table(by_run=False) if len(board.rows) == 1 else None, board)
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("rows"), list) and "metrics" in data:  # a leaderboard's JSON
        metrics = load_metric_table(data["metrics"])
        if len(data["rows"]) != 1:
            return GateSide(metrics, None)
        prefix = f"{RunKey(data['rows'][0]['model'], data['rows'][0]['checkpoint'])}/"
        return GateSide(metrics, {name.removeprefix(prefix): metric for name, metric in metrics.items()})
    metrics = load_metric_table(data)
    return GateSide(metrics, metrics)


SHOWN_ITEMS = 3  # item keys named in a mismatch error


class MismatchedRunsError(ValueError):
    """Two sides of `compare` that were not evaluated on the same subsets or items."""


def _items(board, subset: str) -> set[str] | None:
    keys = [set(row.paired[subset].keys) for row in board.rows if subset in row.paired]
    return set().union(*keys) if keys else None


def check_comparable(baseline: GateSide, candidate: GateSide) -> None:
    """Refuse to gate runs of different subsets or, where items were logged, different items (naming them)."""
    if baseline.board is None or candidate.board is None:
        return  # metric JSON: only the metric names can be matched, which `compare` does
    before, after = set(baseline.board.subsets), set(candidate.board.subsets)
    if before != after:
        raise MismatchedRunsError(
            f"the runs cover different subsets: only in the baseline {sorted(before - after)}, only in the candidate "
            f"{sorted(after - before)}; compare runs of the same subsets (or choose them with --subsets)")
    for subset in baseline.board.subsets:
        a, b = _items(baseline.board, subset), _items(candidate.board, subset)
        if a is not None and b is not None and a != b:
            only_a, only_b = sorted(a - b), sorted(b - a)
            raise MismatchedRunsError(
                f"subset {subset}: the runs were scored on different items: {len(only_a)} only in the baseline "
                f"(e.g. {only_a[:SHOWN_ITEMS]}), {len(only_b)} only in the candidate (e.g. {only_b[:SHOWN_ITEMS]}); "
                "evaluate both on the same items (same split, --limit, and bad_audio skips)")
