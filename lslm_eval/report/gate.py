"""Regression gate: does a candidate run lose ground against a baseline on any tracked metric?

A metric worsens by `baseline - candidate` when higher is better (scores) and by
`candidate - baseline` when lower is better (GAP). It fails when it worsens by more than:
- `tolerance` absolute points, or, when `tolerance_se` is given and both sides carry an SE (from
  per-item data), `tolerance_se` standard errors of the difference, sqrt(se_b^2 + se_c^2), where
  that is larger: a metric whose items all agree (SE 0) still gets the point tolerance.
A tracked metric absent from the candidate fails; one new in the candidate is listed, not judged.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lslm_eval.report.render import markdown_table, to_json

DEFAULT_TOLERANCE = 1.0  # points
LOWER_IS_BETTER = ("gap", "forgetting", "base_gap", "cascade_gap", "fail", "wer")  # last name component of metrics where smaller is better


@dataclass(frozen=True)
class Metric:
    """One tracked number: its value, optional standard error, and which direction is better."""

    value: float
    se: float | None = None
    higher_is_better: bool = True


def lower_is_better(name: str) -> bool:
    return name.replace(".", "/").rsplit("/", 1)[-1].lower() in LOWER_IS_BETTER


def as_metric(name: str, entry) -> Metric:
    """A Metric from a Metric, a number, or a {"value", "se"?, "higher_is_better"?} mapping."""
    if isinstance(entry, Metric):
        return entry
    if isinstance(entry, Mapping):
        if "value" not in entry:
            raise ValueError(f"metric {name!r}: a mapping needs a 'value' key, got {sorted(entry)}")
        value = math.nan if entry["value"] is None else float(entry["value"])
        se = entry.get("se")
        return Metric(value, None if se is None else float(se), bool(entry.get("higher_is_better", not lower_is_better(name))))
    if isinstance(entry, (int, float)) and not isinstance(entry, bool):
        return Metric(float(entry), None, not lower_is_better(name))
    raise ValueError(f"metric {name!r}: expected a number, a Metric or a mapping with 'value', got {type(entry).__name__}")


def load_metric_table(source) -> dict[str, Metric]:
    """Metrics from a mapping, a Leaderboard (`.metric_table()`), or a JSON file.

    The JSON may be a Leaderboard's `to_json()` (its "metrics" section) or a flat
    {"name": value-or-{"value", "se", "higher_is_better"}} object.
    """
    if hasattr(source, "metric_table"):
        return dict(source.metric_table())
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"metric table not found: {path}")
        data = json.loads(path.read_text(encoding="utf-8"))
        source = data.get("metrics", data) if isinstance(data, Mapping) else data
    if not isinstance(source, Mapping):
        raise ValueError(f"a metric table must be a mapping of metric name to value, got {type(source).__name__}")
    return {str(name): as_metric(str(name), entry) for name, entry in source.items()}


@dataclass(frozen=True)
class MetricCheck:
    """One row of the before/after table. status: pass, fail, missing (fails) or new (not judged)."""

    name: str
    baseline: Metric | None
    candidate: Metric | None
    worsening: float
    allowed: float
    rule: str  # "points" or "k*SE"
    status: str

    @property
    def failed(self) -> bool:
        return self.status in ("fail", "missing")


@dataclass(frozen=True)
class GateResult:
    checks: tuple[MetricCheck, ...]
    tolerance: float
    tolerance_se: float | None

    @property
    def passed(self) -> bool:
        return not any(check.failed for check in self.checks)

    @property
    def failures(self) -> list[MetricCheck]:
        return [check for check in self.checks if check.failed]

    COLUMNS = ("metric", "better", "baseline", "candidate", "change", "worse by", "allowed", "rule", "status")

    def rows(self) -> list[list]:
        rows = []
        for c in self.checks:
            reference = c.baseline or c.candidate
            before = c.baseline.value if c.baseline else None
            after = c.candidate.value if c.candidate else None
            change = after - before if before is not None and after is not None else None
            rows.append([c.name, "higher" if reference.higher_is_better else "lower", before, after, change,
                         c.worsening, c.allowed, c.rule, c.status.upper() if c.failed else c.status])
        return rows

    def to_markdown(self) -> str:
        verdict = "PASS" if self.passed else f"FAIL ({len(self.failures)} of {len(self.checks)} metrics)"
        return f"**Regression gate: {verdict}**\n\n" + markdown_table(self.COLUMNS, self.rows())

    def to_json(self) -> str:
        return to_json({"passed": self.passed, "tolerance": self.tolerance, "tolerance_se": self.tolerance_se,
                        "checks": [dict(zip(self.COLUMNS, row)) for row in self.rows()]})


def select(names: Sequence[str], patterns: Sequence[str] | None) -> list[str]:
    if patterns is None:
        return sorted(names)
    chosen: list[str] = []
    for pattern in patterns:
        hits = [n for n in sorted(names) if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ValueError(f"tracked metric {pattern!r} matches nothing in the baseline ({len(names)} metrics)")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def check_metric(name: str, before: Metric, after: Metric | None, tolerance: float, tolerance_se: float | None) -> MetricCheck:
    if after is None or not math.isfinite(after.value):
        return MetricCheck(name, before, after, math.nan, math.nan, "-", "missing")
    if before.higher_is_better != after.higher_is_better:
        raise ValueError(f"metric {name!r} changes direction between baseline and candidate")
    worsening = before.value - after.value if before.higher_is_better else after.value - before.value
    ses = (before.se, after.se)
    if tolerance_se is not None and all(se is not None and math.isfinite(se) for se in ses):
        allowed, rule = tolerance_se * math.hypot(*ses), f"{tolerance_se:g}*SE"
        if allowed < tolerance:
            allowed, rule = tolerance, "points"
    else:
        allowed, rule = tolerance, "points"
    return MetricCheck(name, before, after, worsening, allowed, rule, "fail" if worsening > allowed else "pass")


def compare(baseline, candidate, tolerance: float = DEFAULT_TOLERANCE, tolerance_se: float | None = None,
            metrics: Sequence[str] | None = None) -> GateResult:
    """Gate `candidate` against `baseline` (each a metric table, Leaderboard or JSON path).

    metrics: names or fnmatch patterns to track (default: every metric of the baseline).
    """
    if tolerance < 0 or (tolerance_se is not None and tolerance_se < 0):
        raise ValueError("tolerances must be non-negative")
    before, after = load_metric_table(baseline), load_metric_table(candidate)
    checks = []
    for name in select(list(before), metrics):
        if math.isfinite(before[name].value):
            checks.append(check_metric(name, before[name], after.get(name), tolerance, tolerance_se))
        else:  # nothing to compare against: listed, not judged
            checks.append(MetricCheck(name, before[name], after.get(name), math.nan, math.nan, "-", "new"))
    added = [n for n in sorted(set(after) - set(before)) if metrics is None or any(fnmatch.fnmatchcase(n, p) for p in metrics)]
    checks += [MetricCheck(n, None, after[n], math.nan, math.nan, "-", "new") for n in added]
    return GateResult(tuple(checks), tolerance, tolerance_se)
