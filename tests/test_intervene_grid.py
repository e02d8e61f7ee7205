import json

import pytest

from lslm_eval.intervene.grid import run_grid, write_grid
from lslm_eval.intervene.settings import paper_grid
from lslm_eval.model import LSLM
from lslm_eval.report.flips import compare_runs, load_run

TASK = "tiny_speech_qa"
TASK_YAML = f"""
task: {TASK}
custom_dataset: !function tiny_task.dataset
test_split: test
output_type: generate_until
doc_to_text: "<audio>"
doc_to_audio: !function tiny_task.doc_to_audio
doc_to_target: reference
generation_kwargs:
  until: []
  max_gen_toks: 4
  do_sample: false
process_results: !function tiny_task.process
metric_list:
  - metric: hit
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""
TASK_CODE = '''
import datasets
import numpy as np

QUESTIONS = ["what is the capital of france", "how many legs does a spider have", "answer with one word"]


def dataset(**kwargs):
    rows = [{"prompt": q, "reference": "paris", "seed": i} for i, q in enumerate(QUESTIONS)]
    return {"test": datasets.Dataset.from_list(rows)}


def doc_to_audio(doc):
    wav = np.random.default_rng(doc["seed"]).uniform(-0.3, 0.3, 4800 + 1600 * doc["seed"]).astype(np.float32)
    return [{"array": wav, "sampling_rate": 16000, "transcript": doc["prompt"]}]


def process(doc, results):  # a deterministic stand-in for a real scorer: "right" when the answer has even length
    return {"hit": 100.0 * (len(results[0]) % 2 == 0)}
'''


@pytest.fixture()
def tiny_task(tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TASK_YAML)
    (folder / "tiny_task.py").write_text(TASK_CODE)
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(folder), include_defaults=False)


def test_grid_loads_once_runs_every_setting_and_tabulates_changes(monkeypatch, tmp_path, tiny_lslm, tiny_task):
    from lslm_eval.plugins.lslm import LSLMEval

    loads = []
    monkeypatch.setattr(LSLM, "from_pretrained", classmethod(lambda cls, *a, **k: loads.append(1) or tiny_lslm))
    lm = LSLMEval(checkpoint="tiny", device="cpu", batch_size=2)
    out = tmp_path / "grid"
    runs = run_grid(lm, paper_grid(), [TASK], out, task_manager=tiny_task, model_args="checkpoint=tiny")
    assert len(loads) == 1 and lm.intervention is None
    md_path, json_path, markdown = write_grid(runs, [TASK], out)
    table = json.loads(json_path.read_text())
    assert [row["setting"] for row in table["rows"]] == ["Original", "Angle Bottom3", "Angle All", "Length Bottom3", "Length All"]
    assert table["rows"][0]["tasks"][TASK]["delta"] == 0.0
    original = load_run(out / "original", TASK)
    for run, row in zip(runs, table["rows"]):
        logged = load_run(run.folder, TASK)  # per-run sample logs on disk
        cell = row["tasks"][TASK]
        assert cell["score"] == pytest.approx(100 * sum(i.score > 0 for i in logged.items.values()) / len(logged.items))
        assert cell["delta"] == pytest.approx(cell["score"] - table["rows"][0]["tasks"][TASK]["score"])
        results = json.loads(next(run.folder.glob("results_*.json")).read_text())
        assert results["config"]["intervention"] == (run.setting.record() if run.setting else None)
        if run.setting is not None:
            assert f"intervene={run.setting.edit}" in results["config"]["model_args"]
            summary = compare_runs(original, logged).summary()
            assert (cell["fixed"], cell["broken"]) == (summary["fixed"], summary["broken"])
            low, high = cell["delta_95"]
            diffs = [logged.items[k].score - original.items[k].score for k in original.items]
            assert min(diffs) <= low <= cell["delta"] <= high <= max(diffs)
            if len(set(diffs)) == 1:  # every item changed alike: the interval is that change
                assert low == high == diffs[0]
            assert f"| {row['setting']} | {cell['score']:.2f} ({cell['delta']:+.2f} [{low:+.2f}, {high:+.2f}]) |" in markdown
    assert md_path.read_text() == markdown


def test_grid_must_start_with_original(tmp_path):
    with pytest.raises(ValueError, match="Original"):
        run_grid(object(), paper_grid()[1:], [TASK], tmp_path)
