"""Leaderboard from synthetic lm-eval 0.4.13 output folders: pairing, errors, renderings, figures."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest

from lslm_eval.report.figures import plot_correlation, plot_training
from lslm_eval.report.gate import compare
from lslm_eval.report.leaderboard import build_leaderboard
from lslm_eval.report.regression import correlate
from lslm_eval.benchmarks import main_metric
from lslm_eval.data.ids import ITEM_ID_COLUMN, doc_item_ids
from lslm_eval.report.runs import IncompleteRunError, step_of

SUBSETS = ("sdqa", "bbh", "commoneval")
N_ITEMS = 30
BBH_TASKS = ("navigate", "sports_understanding", "web_of_lies")


def make_docs(subset: str) -> list[dict]:
    """VoiceBench-like docs: sd-qa has no id, bbh's id is its BBH task name (shared), commoneval has ids."""
    if subset == "sdqa":
        return [{"prompt": f"question number {i}?", "reference": f"answer {i}"} for i in range(N_ITEMS)]
    if subset == "bbh":
        return [{"id": BBH_TASKS[i % 3], "prompt": f"bbh puzzle {i}", "reference": "A"} for i in range(N_ITEMS)]
    return [{"id": f"ce-{i}", "prompt": f"chat {i}"} for i in range(N_ITEMS)]


def item_scores(subset: str, ease: np.ndarray, p: float) -> np.ndarray:
    """Scores driven by a per-item ease shared by both modalities (paired items correlate)."""
    if subset == "commoneval":
        return np.clip(np.round(1 + 5 * p * ease), 1, 5)  # judge 1-5
    return 100.0 * (ease > 1 - p)


def write_run(out: Path, checkpoint: str, tasks: dict[str, tuple[list[dict], np.ndarray]], date_id: str,
              shuffle_seed: int | None = None, model_args: str | None = None) -> Path:
    """One lm-eval run: OUT/<model_name_sanitized>/results_<date>.json + samples_<task>_<date>.jsonl."""
    folder = out / checkpoint.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    results, n_samples = {}, {}
    for task, (docs, scores) in tasks.items():
        metric = main_metric(task)
        results[task] = {"alias": task, f"{metric},none": float(np.mean(scores)), f"{metric}_stderr,none": "N/A"}
        n_samples[task] = {"original": len(docs), "effective": len(docs)}
        order = list(range(len(docs)))
        if shuffle_seed is not None:  # a different doc order (and doc_ids), as another split order would give
            random.Random(shuffle_seed).shuffle(order)
        lines = []
        for doc_id, i in enumerate(order):
            lines.append(json.dumps({"doc_id": doc_id, "doc": docs[i], "target": "t", "arguments": {}, "resps": [["r"]],
                                     "filtered_resps": ["r"], "filter": "none", "metrics": [metric],
                                     "doc_hash": "h", "prompt_hash": "h", "target_hash": "h", metric: float(scores[i])}))
        if shuffle_seed is not None:
            random.Random(shuffle_seed + 1).shuffle(lines)  # and a shuffled file
        (folder / f"samples_{task}_{date_id}.jsonl").write_text("\n".join(lines) + "\n")
    payload = {"results": results, "group_subtasks": {t: [] for t in tasks}, "configs": {t: {"task": t} for t in tasks},
               "versions": {t: 1.0 for t in tasks}, "n-shot": {t: 0 for t in tasks},
               "higher_is_better": {t: {} for t in tasks}, "n-samples": n_samples,
               "config": {"model": "lslm", "model_args": model_args or f"checkpoint={checkpoint},device=cpu",
                          "batch_size": 8},
               "model_name": checkpoint, "model_name_sanitized": checkpoint.replace("/", "__")}
    path = folder / f"results_{date_id}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


@pytest.fixture()
def runs(tmp_path):
    """Two checkpoints; speech and text in separate runs, the text runs in shuffled order."""
    rng = np.random.default_rng(0)
    truth = {}
    for step, p_speech in ((2000, 0.3), (4000, 0.6)):
        checkpoint = f"out/qwen/checkpoint-{step}"
        speech, text = {}, {}
        for subset in SUBSETS:
            docs = make_docs(subset)
            ease = rng.random(N_ITEMS)
            s, t = item_scores(subset, ease, p_speech), item_scores(subset, ease, 0.9)
            speech[f"voicebench_{subset}"] = (docs, s)
            text[f"voicebench_{subset}_text"] = (docs, t)
            truth[(step, subset)] = (s, t)
        write_run(tmp_path / "speech", checkpoint, speech, f"2025-01-0{step // 2000}T10-00-00")
        write_run(tmp_path / "text", checkpoint, text, f"2025-01-0{step // 2000}T11-00-00", shuffle_seed=step)
    return tmp_path, truth


def write_probe(path: Path, checkpoint: str, model: str = "lslm", **scalars) -> Path:
    path.write_text(json.dumps({"model": model, "checkpoint": checkpoint, "task": "voicebench_sdqa",
                                "probe": scalars}))
    return path


def expected_gap(truth, step) -> float:
    scale = {"commoneval": 20.0}
    return float(np.mean([scale.get(s, 1.0) * (truth[(step, s)][1].mean() - truth[(step, s)][0].mean()) for s in SUBSETS]))


def test_runs_without_a_checkpoint_are_told_apart_by_their_parts(tmp_path):
    rng = np.random.default_rng(1)
    for name, llm in (("a", "HuggingFaceTB/SmolLM2-135M-Instruct"), ("b", "Qwen/Qwen2.5-0.5B-Instruct")):
        tasks = {}
        for subset in SUBSETS:
            docs, ease = make_docs(subset), rng.random(N_ITEMS)
            tasks[f"voicebench_{subset}"] = (docs, item_scores(subset, ease, 0.3))
            tasks[f"voicebench_{subset}_text"] = (docs, item_scores(subset, ease, 0.9))
        write_run(tmp_path / name, "lslm", tasks, "2025-01-01T10-00-00", model_args=f"encoder=tiny.en,llm={llm}")
    board = build_leaderboard([tmp_path / "a", tmp_path / "b"], n_resamples=200)
    assert sorted(row.checkpoint for row in board.rows) == ["tiny.en+HuggingFaceTB/SmolLM2-135M-Instruct",
                                                            "tiny.en+Qwen/Qwen2.5-0.5B-Instruct"]


def test_native_runs_are_named_by_hf_and_their_checkpoint_step_read(tmp_path):
    rng = np.random.default_rng(2)
    for name, hf in (("a", "Qwen/Qwen2-Audio-7B-Instruct"), ("b", "runs/granite/checkpoint-300")):
        tasks = {}
        for subset in SUBSETS:
            docs, ease = make_docs(subset), rng.random(N_ITEMS)
            tasks[f"voicebench_{subset}"] = (docs, item_scores(subset, ease, 0.3))
            tasks[f"voicebench_{subset}_text"] = (docs, item_scores(subset, ease, 0.9))
        write_run(tmp_path / name, "lslm", tasks, "2025-01-01T10-00-00", model_args=f"hf={hf},dtype=bfloat16")
    board = build_leaderboard([tmp_path / "a", tmp_path / "b"], n_resamples=200)
    assert sorted(row.checkpoint for row in board.rows) == ["Qwen/Qwen2-Audio-7B-Instruct", "runs/granite/checkpoint-300"]
    assert sorted(str(step_of(row.checkpoint)) for row in board.rows) == ["300", "None"]


def test_pairs_runs_and_items_by_identity_not_order(runs):
    root, truth = runs
    board = build_leaderboard([root / "speech", root / "text"], n_resamples=2000)
    assert [r.step for r in board.rows] == [2000, 4000]
    assert board.subsets == ("commoneval", "sdqa", "bbh")  # official order
    for row in board.rows:
        assert row.gap == pytest.approx(expected_gap(truth, row.step))
        assert row.interval.estimate == pytest.approx(row.gap)  # items were matched one to one
        assert row.interval.low < row.gap < row.interval.high
        assert row.interval.n_items == {s: N_ITEMS for s in SUBSETS}
    # per-item contributions are correct only under key matching: check the spread against the truth
    row = board.rows[0]
    spread = np.sqrt(sum((20.0 if s == "commoneval" else 1.0) ** 2 * np.var(np.subtract(*truth[(2000, s)][::-1]), ddof=1)
                         / N_ITEMS for s in SUBSETS)) / len(SUBSETS)
    assert row.interval.se == pytest.approx(spread, rel=0.05)


def test_identical_scores_in_shuffled_order_give_a_zero_width_interval(tmp_path):
    rng = np.random.default_rng(1)
    docs = make_docs("bbh")
    scores = 100.0 * (rng.random(N_ITEMS) < 0.5)
    write_run(tmp_path, "ck/step-10", {"voicebench_bbh": (docs, scores)}, "2025-02-01T00-00-00")
    write_run(tmp_path, "ck/step-10", {"voicebench_bbh_text": (docs, scores)}, "2025-02-01T01-00-00", shuffle_seed=3)
    row = build_leaderboard([tmp_path], n_resamples=500).rows[0]
    assert row.gap == 0.0 and row.interval.low == 0.0 and row.interval.high == 0.0  # position matching would spread
    assert row.step == 10


def test_item_identity_is_the_datasets_id_else_the_transcript_hash():
    keys = doc_item_ids(make_docs("bbh"))  # docs of runs made before the id column: the shared bbh `id` is ignored
    assert len(set(keys)) == N_ITEMS and keys[0].startswith("prompt:")
    twins = doc_item_ids([{"prompt": "same"}, {"prompt": "same"}])
    assert twins[0] != twins[1]
    assert doc_item_ids([{ITEM_ID_COLUMN: "voicebench/bbh/test/navigate", "prompt": "p"}]) == ["voicebench/bbh/test/navigate"]
    with pytest.raises(ValueError, match="neither 'lslm_item_id' nor a transcript"):
        doc_item_ids([{"reference": "A"}])


def test_missing_text_twin_is_named(runs):
    root, _ = runs
    (next((root / "text").rglob("samples_voicebench_bbh_text_*.jsonl"))).unlink()
    results = sorted((root / "text").rglob("results_*.json"))[0]
    data = json.loads(results.read_text())
    del data["results"]["voicebench_bbh_text"], data["n-samples"]["voicebench_bbh_text"]
    results.write_text(json.dumps(data))
    with pytest.raises(IncompleteRunError, match=r"lslm@out/qwen/checkpoint-2000: voicebench_bbh has no text twin "
                                                 r"voicebench_bbh_text"):
        build_leaderboard([root])


def test_missing_subset_and_missing_sample_log_are_reported(runs):
    root, _ = runs
    with pytest.raises(IncompleteRunError, match=r"missing:\n  lslm@out/qwen/checkpoint-2000: \['mmsu'\]"):
        build_leaderboard([root], subsets=["sdqa", "mmsu"])
    for log in (root / "speech").rglob("samples_voicebench_sdqa_2025-01-02*.jsonl"):
        log.unlink()
    board = build_leaderboard([root], subsets=["sdqa", "bbh"], n_resamples=200)
    late = board.rows[1]
    assert late.interval is None and late.gap == pytest.approx(np.mean([late.text[s] - late.speech[s] for s in ("sdqa", "bbh")]))
    assert any("no sample log samples_voicebench_sdqa_2025-01-02" in n for n in board.notes)
    assert any("['commoneval'] were evaluated but are outside" in n for n in board.notes)


def test_probes_are_attached_and_strays_rejected(runs, tmp_path):
    root, _ = runs
    probes = [write_probe(tmp_path / f"p{s}.json", f"out/qwen/checkpoint-{s}/", aps_cos=a, aps_d=d, f_bar_cos=c, f_bar_d=e)
              for s, a, d, c, e in ((2000, 0.41, 9.0, 0.5, 12.0), (4000, 0.52, 7.5, 0.6, 11.0))]
    board = build_leaderboard([root], probe_files=probes, n_resamples=200)
    assert [r.probe["aps_cos"] for r in board.rows] == [0.41, 0.52]
    stray = write_probe(tmp_path / "stray.json", "out/llama/checkpoint-2000", model="llama", aps_cos=0.3)
    with pytest.raises(IncompleteRunError, match=r"stray.json is for model 'llama' checkpoint 'out/llama/checkpoint-2000'"):
        build_leaderboard([root], probe_files=[*probes, stray])
    other_model = write_probe(tmp_path / "other.json", "out/qwen/checkpoint-2000", model="whisper-llama", aps_cos=0.3)
    with pytest.raises(IncompleteRunError, match="other.json is for model 'whisper-llama'"):
        build_leaderboard([root], probe_files=[other_model])


def test_renderings(runs, tmp_path):
    root, _ = runs
    probes = [write_probe(tmp_path / f"p{s}.json", f"out/qwen/checkpoint-{s}", aps_cos=a) for s, a in ((2000, 0.4), (4000, 0.5))]
    board = build_leaderboard([root], probe_files=probes, n_resamples=200, scalars=("aps_cos",))
    page = board.to_html()
    assert page.startswith("<!DOCTYPE html>") and '<table id="leaderboard">' in page
    assert page.count('onclick="sortTable(this)"') == len(board.columns())
    assert "function sortTable" in page and "<style>" in page
    assert "http://" not in page and "https://" not in page and " src=" not in page  # self-contained
    assert f'data-sort="{board.rows[0].gap!r}"' in page
    table = list(csv.reader(io.StringIO(board.to_csv())))
    assert table[0] == board.columns() and len(table) == 3
    assert float(table[1][table[0].index("GAP")]) == pytest.approx(board.rows[0].gap)
    markdown = board.to_markdown()
    assert markdown.splitlines()[0].startswith("| model | checkpoint | step | GAP |")
    assert f"| {board.rows[0].gap:.2f} |" in markdown
    saved = tmp_path / "board.json"
    saved.write_text(board.to_json())
    data = json.loads(saved.read_text())
    assert data["rows"][1]["checkpoint"] == "out/qwen/checkpoint-4000"
    assert data["metrics"]["lslm@out/qwen/checkpoint-2000/gap"]["higher_is_better"] is False
    gate = compare(saved, board)  # the same runs pass their own gate
    assert gate.passed and len(gate.checks) == len(data["metrics"])


def test_figures(runs, tmp_path):
    root, _ = runs
    probes = [write_probe(tmp_path / f"p{s}.json", f"out/qwen/checkpoint-{s}", aps_cos=a, aps_d=d, f_bar_cos=c, f_bar_d=e)
              for s, a, d, c, e in ((2000, 0.41, 9.0, 0.5, 12.0), (4000, 0.52, 7.5, 0.6, 11.0))]
    board = build_leaderboard([root], probe_files=probes, n_resamples=200)
    assert "n = 2 < 3" in correlate(board).fits[("all", "aps_cos")].reason
    scatter = plot_correlation(board, tmp_path / "corr.png")
    curves = plot_training(board, tmp_path / "train.png")
    for image in (scatter, curves):
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000


def test_reads_the_probe_json_that_the_prober_writes(runs, tmp_path):
    import torch

    from lslm_eval.probe.runner import Prober

    root, _ = runs
    torch.manual_seed(0)
    prober = Prober(tmp_path / "probe", {"model": "lslm", "checkpoint": "out/qwen/checkpoint-4000", "tasks": ["voicebench_sdqa"]})
    for key in ("a", "b"):
        prober.add(torch.randn(3, 12, 8), torch.randn(3, 4, 8), key)
    written = json.loads(prober.write().read_text())
    board = build_leaderboard([root], probe_files=[tmp_path / "probe" / "probe.json"], n_resamples=100)
    late = board.rows[1]
    assert late.probe == {"f_bar_cos": written["sequence"]["cos_bar"], "f_bar_d": written["sequence"]["dist_bar"],
                          "aps_cos": written["aps"]["cos"], "aps_d": written["aps"]["dist"]}
    assert late.probe_task == "voicebench_sdqa" and board.rows[0].probe == {}
