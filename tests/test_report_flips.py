import json
import random

import pytest

from lslm_eval.cli import main
from lslm_eval.report.flips import BOTH_CORRECT, BOTH_WRONG, BROKEN, FIXED, compare_runs, find_sample_log, load_run

# (prompt, right in A, right in B)
ITEMS = [(f"question number {i}", a, b) for i, (a, b) in enumerate(
    [(0, 1), (0, 1), (0, 1), (1, 0), (1, 0), (1, 1), (1, 1), (1, 1), (1, 1), (0, 0), (0, 0)])]
EXPECTED = {FIXED: 3, BROKEN: 2, BOTH_CORRECT: 4, BOTH_WRONG: 2}


def sample(doc_id, doc, score, response, metric="pedant"):
    return {"doc_id": doc_id, "doc": doc, "target": doc.get("reference", ""), "arguments": {"gen_args_0": {"arg_0": "<audio>"}},
            "resps": [[response]], "filtered_resps": [response], "filter": "none", "metrics": [metric], metric: score}


def write_log(folder, task, rows, date="2025-01-02T03-04-05.678901"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples_{task}_{date}.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def make_runs(tmp_path, seed=0):
    """Run A in doc order; run B shuffled with different doc_ids, so position and doc_id both mislead."""
    a = [sample(i, {"prompt": p, "reference": f"ref {i}"}, 100.0 * ra, f"A says {i}") for i, (p, ra, _) in enumerate(ITEMS)]
    order = list(range(len(ITEMS)))
    random.Random(seed).shuffle(order)
    b = [sample(new_id, {"prompt": ITEMS[i][0], "reference": f"ref {i}"}, 100.0 * ITEMS[i][2], f"B says {i}")
         for new_id, i in enumerate(order)]
    return write_log(tmp_path / "a", "voicebench_sdqa", a), write_log(tmp_path / "b", "voicebench_sdqa", b), order


def test_flips_match_items_by_identity_not_position(tmp_path):
    path_a, path_b, order = make_runs(tmp_path)
    assert order != sorted(order)
    report = compare_runs(load_run(path_a), load_run(tmp_path / "b"))
    assert report.counts == EXPECTED and report.metric == "pedant"
    for row in report.rows:
        i = int(row["question"].split()[-1])
        assert row["a"]["response"] == f"A says {i}" and row["b"]["response"] == f"B says {i}"
        assert row["reference"] == f"ref {i}"
    summary = report.summary()
    assert summary["net"] == 1 and summary["correct_a"] == 6 and summary["correct_b"] == 7


def test_repeated_ids_fall_back_to_the_prompt(tmp_path):
    """VoiceBench bbh's `id` is the BBH task name, shared by many items."""
    rows_a = [sample(i, {"id": "navigate", "prompt": p}, float(ra), "x", "acc") for i, (p, ra, _) in enumerate(ITEMS)]
    rows_b = [sample(i, {"id": "navigate", "prompt": p}, float(rb), "y", "acc") for i, (p, _, rb) in reversed(list(enumerate(ITEMS)))]
    report = compare_runs(load_run(write_log(tmp_path / "a", "voicebench_bbh", rows_a)),
                          load_run(write_log(tmp_path / "b", "voicebench_bbh", rows_b)))
    assert report.counts == EXPECTED


def test_unmatched_items_are_reported_and_other_tasks_need_choosing(tmp_path):
    path_a, path_b, _ = make_runs(tmp_path)
    rows = [json.loads(line) for line in path_b.read_text().splitlines()][:-2]
    write_log(tmp_path / "c", "voicebench_sdqa", rows)
    report = compare_runs(load_run(path_a), load_run(tmp_path / "c"))
    assert len(report.only_a) == 2 and not report.only_b and len(report.rows) == len(ITEMS) - 2
    write_log(tmp_path / "c", "voicebench_sdqa_text", rows)
    with pytest.raises(ValueError, match="several tasks"):
        find_sample_log(tmp_path / "c")
    write_log(tmp_path / "c", "voicebench_sdqa", rows[:1], date="2026-01-01T00-00-00.000000")
    assert find_sample_log(tmp_path / "c", "voicebench_sdqa").name.endswith("2026-01-01T00-00-00.000000.jsonl")


def test_flips_cli_writes_jsonl_and_markdown(tmp_path, capsys):
    path_a, path_b, _ = make_runs(tmp_path)
    out = tmp_path / "flips"
    assert main(["flips", str(path_a), str(tmp_path / "b"), "--labels", "Original", "Angle Bottom3", "--output_path", str(out), "--examples", "2"]) == 0
    rows = [json.loads(line) for line in (out / "flips.jsonl").read_text().splitlines()]
    assert len(rows) == len(ITEMS) and sum(r["status"] == FIXED for r in rows) == 3
    markdown = (out / "flips.md").read_text()
    assert "| 3 | 2 | +1 | 4 | 2 | 6 | 7 |" in markdown
    assert markdown.count("| question number") == 4  # two fixed and two broken examples, side by side
    assert "Flips: Angle Bottom3 against Original" in capsys.readouterr().out
