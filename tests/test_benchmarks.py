"""The benchmark vocabulary (lslm_eval/benchmarks.py) against the task YAMLs, the scoring and the probe output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lslm_eval import benchmarks
from lslm_eval.benchmarks import (BENCHMARKS, CASCADE, CHANCE_METRIC, FAIL_METRIC, GROUPS, PROBE_SCALARS, SPEECH, TEXT,
                                  TEXT_AT_BASE, arm_of, main_metric, resolve_subsets, task_of)

TASKS = Path(__file__).resolve().parents[1] / "tasks"


class TaskLoader(yaml.SafeLoader):
    """YAML with lm-eval's `!function module.name` read as the string "!function module.name"."""


TaskLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def task_files() -> dict[str, Path]:
    found = {}
    for path in TASKS.rglob("*.yaml"):
        data = yaml.load(path.read_text(), Loader=TaskLoader) or {}
        for key in ("task", "group"):
            if isinstance(data.get(key), str):
                found[data[key]] = path
    return found


def resolved(path: Path) -> dict:
    """A task YAML with its includes merged (later ones and the file itself win), as lm-eval reads it."""
    data = yaml.load(path.read_text(), Loader=TaskLoader)
    includes = data.pop("include", [])
    merged: dict = {}
    for name in [includes] if isinstance(includes, str) else includes:
        merged.update(resolved(path.parent / name))
    return {**merged, **data}


FILES = task_files()


@pytest.mark.parametrize("row", BENCHMARKS, ids=lambda b: b.subset)
def test_every_row_names_tasks_that_report_its_metric(row):
    for kind, task in row.tasks.items():
        assert task in FILES, f"{row.subset}: no task YAML defines {task}"
        config = resolved(FILES[task])
        metrics = [m["metric"] for m in config["metric_list"]]
        assert row.metric in metrics, f"{task} lists {metrics}, not the vocabulary's {row.metric}"
        if row.chance is not None:
            assert {FAIL_METRIC, CHANCE_METRIC} <= set(metrics), task
        hook = config.get("process_docs", "")
        assert hook.endswith({SPEECH: "speech_docs", TEXT: "text_docs", CASCADE: "cascade_docs"}[kind]), (task, hook)
        assert ("doc_to_audio" in config) == (kind == SPEECH), task
        assert task_of(task) == (row, kind)
    speech, text, cascade = (resolved(FILES[t]) for t in (row.speech_task, row.text_task, row.cascade_task))
    for key in ("dataset_kwargs", "test_split", "custom_dataset", "process_results"):  # the same items, scored alike
        assert speech.get(key) == text.get(key) == cascade.get(key), (row.subset, key)


def test_groups_match_the_group_yamls():
    for group, (name, kind) in benchmarks.TASK_GROUPS.items():
        members = resolved(FILES[group])["task"]
        assert members == [benchmarks.benchmark(s).tasks[kind] for s in GROUPS[name]], group
    assert GROUPS["paper"] == ("advbench", "ifeval", "openbookqa", "mmsu", "sdqa")
    assert len(GROUPS["official"]) == 9 and "speechmmlu" not in GROUPS["official"]


def test_chance_and_scale_agree_with_the_scoring_rules():
    from lslm_eval.scoring.bbh import ANSWERS
    from lslm_eval.scoring.mcq import LETTERS
    from lslm_eval.scoring.speechmmlu import ANSWER_INDICES

    chance = {b.subset: b.chance for b in BENCHMARKS}
    assert chance["mmsu"] == chance["openbookqa"] == 100 / len(LETTERS)
    assert chance["bbh"] == 100 / len(ANSWERS) and chance["speechmmlu"] == 100 / len(ANSWER_INDICES)
    judged = [b.subset for b in BENCHMARKS if b.scale != 1.0]
    assert judged == [b.subset for b in BENCHMARKS if "_open.yaml" in str(yaml.load(FILES[b.speech_task].read_text(),
                                                                                        Loader=TaskLoader)["include"])]


def test_probe_scalar_names_are_where_the_prober_writes_them(tmp_path):
    import torch

    from lslm_eval.probe.runner import Prober
    from lslm_eval.report.runs import probe_scalars

    torch.manual_seed(0)
    prober = Prober(tmp_path, {"checkpoint": "ck"})
    for key in ("a", "b", "c"):
        prober.add(torch.randn(3, 10, 8), torch.randn(3, 4, 8), key)
    import json

    written = json.loads(prober.write().read_text())
    for name, (section, key) in PROBE_SCALARS.items():
        assert isinstance(written[section][key], float), name
    assert set(probe_scalars(written, PROBE_SCALARS)) == set(PROBE_SCALARS)


def test_subsets_arms_and_metrics_resolve():
    assert resolve_subsets("paper,speechmmlu") == (*GROUPS["paper"], "speechmmlu")
    assert resolve_subsets(["official"]) == GROUPS["official"]
    with pytest.raises(ValueError, match="unknown subsets \\['nope'\\]"):
        resolve_subsets("sdqa,nope")
    with pytest.raises(ValueError, match="listed twice"):
        resolve_subsets("paper,sdqa")
    assert arm_of(TEXT, "text@base") == TEXT_AT_BASE and arm_of(SPEECH, None) == SPEECH
    with pytest.raises(ValueError, match="text twins only"):
        arm_of(SPEECH, TEXT_AT_BASE)
    assert main_metric("voicebench_sdqa_cascade") == "pedant" and main_metric("foreign", ["exact_match"]) == "exact_match"
    assert task_of("voicebench_mmsu_biology") is None
