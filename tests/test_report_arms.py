"""The arms of a modality-gap study in the leaderboard: text@base, cascade, derived gaps, McNemar, fallbacks, WER."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lslm_eval.benchmarks import ASR_ERRORS, ASR_WORDS, CHANCE_METRIC, FAIL_METRIC, benchmark
from lslm_eval.cli import main
from lslm_eval.data.ids import ITEM_ID_COLUMN
from lslm_eval.report.bootstrap import exact_mcnemar
from lslm_eval.report.leaderboard import build_leaderboard

N = 40
SUBSETS = ("sdqa", "mmsu", "speechmmlu")
CHECKPOINT = "runs/lora/checkpoint-100"


def write_task(folder: Path, task: str, subset: str, scores: np.ndarray, date: str, model_args: str,
               fail: np.ndarray | None = None, asr: tuple[np.ndarray, np.ndarray] | None = None, reverse: bool = False):
    """One lm-eval run of one task: results_<date>.json and its sample log (items in reverse order if asked)."""
    folder.mkdir(parents=True, exist_ok=True)
    metric = benchmark(subset).metric
    order = list(range(N))[::-1] if reverse else list(range(N))
    lines, chance = [], None
    if fail is not None:
        chance = np.where(fail > 0, benchmark(subset).chance, scores)
    for doc_id, i in enumerate(order):
        doc = {ITEM_ID_COLUMN: f"{subset}/item-{i}", "prompt": f"question {i} of {subset}"}
        if asr is not None:
            doc.update({ASR_ERRORS: int(asr[0][i]), ASR_WORDS: int(asr[1][i])})
        line = {"doc_id": doc_id, "doc": doc, "filter": "none", "metrics": [metric], metric: float(scores[i]),
                "filtered_resps": ["r"], "target": "t"}
        if fail is not None:
            line.update({FAIL_METRIC: float(fail[i]), CHANCE_METRIC: float(chance[i])})
        lines.append(json.dumps(line))
    (folder / f"samples_{task}_{date}.jsonl").write_text("\n".join(lines) + "\n")
    result = {f"{metric},none": float(scores.mean())}
    if fail is not None:
        result.update({f"{FAIL_METRIC},none": float(fail.mean()), f"{CHANCE_METRIC},none": float(chance.mean())})
    payload = {"results": {task: result}, "group_subtasks": {task: []}, "configs": {task: {"task": task}},
               "n-samples": {task: {"original": N, "effective": N}},
               "config": {"model": "lslm", "model_args": model_args}, "model_name": CHECKPOINT}
    (folder / f"results_{date}.json").write_text(json.dumps(payload))


@pytest.fixture()
def arm_runs(tmp_path):
    """Four arms of one checkpoint in four folders; text@base knows more than text, text more than speech."""
    rng = np.random.default_rng(3)
    truth = {}
    base_args = f"checkpoint={CHECKPOINT}"
    for k, subset in enumerate(SUBSETS):
        ease = rng.random(N)
        truth[subset] = {arm: 100.0 * (ease > 1 - p) for arm, p in
                         (("speech", 0.3), ("text", 0.6), ("text@base", 0.8), ("cascade", 0.5))}
        fail = 100.0 * (rng.random(N) < 0.4) * (truth[subset]["speech"] == 0) if subset != "sdqa" else None
        truth[subset]["fail"] = fail
        words = rng.integers(5, 12, N)
        errors = rng.integers(0, 3, N)
        truth[subset]["asr"] = (errors, words)
        row = benchmark(subset)
        date = f"2025-05-0{k + 1}T10-00-00"
        write_task(tmp_path / "speech", row.speech_task, subset, truth[subset]["speech"], date, base_args, fail)
        write_task(tmp_path / "text", row.text_task, subset, truth[subset]["text"], date, base_args,
                   None if fail is None else np.zeros(N), reverse=True)
        write_task(tmp_path / "base", row.text_task, subset, truth[subset]["text@base"], date,
                   base_args + ",arm=text@base", None if fail is None else np.zeros(N))
        write_task(tmp_path / "cascade", row.cascade_task, subset, truth[subset]["cascade"], date, base_args,
                   None if fail is None else np.zeros(N), asr=(errors, words), reverse=True)
    return tmp_path, truth


def overall_of(truth, arm):
    return float(np.mean([truth[s][arm].mean() for s in SUBSETS]))


def test_arms_share_one_row_and_the_derived_statistics_are_exact(arm_runs):
    root, truth = arm_runs
    board = build_leaderboard([root], n_resamples=2000)
    assert len(board.rows) == 1 and board.arms == ("speech", "text", "text@base", "cascade")
    assert board.subsets == SUBSETS  # vocabulary order: SpeechMMLU after VoiceBench
    row = board.rows[0]
    o = {arm: overall_of(truth, arm) for arm in board.arms}
    assert row.overall_arms == pytest.approx(o)
    expected = {"gap": o["text"] - o["speech"], "forgetting": o["text@base"] - o["text"],
                "base_gap": o["text@base"] - o["speech"], "cascade_gap": o["cascade"] - o["speech"],
                "recovery": o["speech"] / o["text"]}
    for name, value in expected.items():
        d = row.derived[name]
        assert d.estimate == pytest.approx(value), name
        assert d.low < value < d.high and d.se > 0, name
        assert d.n_items == {s: N for s in SUBSETS}
    assert row.derived["forgetting"].estimate + row.derived["gap"].estimate == pytest.approx(row.derived["base_gap"].estimate)
    for s in SUBSETS:  # the same statistics within each subset
        gap = row.subset_derived[("gap", s)]
        assert gap.estimate == pytest.approx(truth[s]["text"].mean() - truth[s]["speech"].mean()) and gap.low <= gap.estimate <= gap.high
        assert row.subset_derived[("recovery", s)].estimate == pytest.approx(truth[s]["speech"].mean() / truth[s]["text"].mean())
    # items matched by id although text and cascade logs are in reverse order: the paired SE is far below the unpaired
    unpaired = math.sqrt(sum(np.var(truth[s]["text"], ddof=1) / N + np.var(truth[s]["speech"], ddof=1) / N
                             for s in SUBSETS)) / len(SUBSETS)
    assert row.derived["gap"].se < 0.8 * unpaired


def test_mcnemar_fallbacks_and_wer(arm_runs):
    root, truth = arm_runs
    row = build_leaderboard([root], n_resamples=200).rows[0]
    for s in SUBSETS:
        right_text, right_speech = truth[s]["text"] > 0, truth[s]["speech"] > 0
        test = row.tests[("text", "speech", s)]
        assert test["only_a"] == int(np.sum(right_text & ~right_speech)) and test["only_b"] == int(np.sum(~right_text & right_speech))
        assert test["p"] == pytest.approx(exact_mcnemar(test["only_a"], test["only_b"]))
        if truth[s]["fail"] is not None:
            fail = truth[s]["fail"]
            assert row.fail[("speech", s)] == pytest.approx(fail.mean())
            expected = np.where(fail > 0, benchmark(s).chance, truth[s]["speech"]).mean()
            assert row.chance[("speech", s)] == pytest.approx(expected)
        else:
            assert ("speech", s) not in row.chance
        errors, words = truth[s]["asr"]
        assert row.wer[s] == pytest.approx(100 * errors.sum() / words.sum())
    assert row.wer["all"] == pytest.approx(100 * sum(truth[s]["asr"][0].sum() for s in SUBSETS)
                                           / sum(truth[s]["asr"][1].sum() for s in SUBSETS))


def test_exact_mcnemar_matches_the_binomial_test():
    from scipy.stats import binomtest

    for a, b in ((0, 0), (3, 0), (7, 2), (10, 10), (1, 12)):
        expected = 1.0 if a + b == 0 else binomtest(a, a + b, 0.5).pvalue
        assert exact_mcnemar(a, b) == pytest.approx(expected)


def test_gate_and_cli_carry_the_arms(arm_runs, capsys, tmp_path):
    root, _ = arm_runs
    board = build_leaderboard([root], n_resamples=200)
    metrics = board.metric_table(by_run=False)
    for name in ("forgetting", "cascade_gap", "recovery", "overall_text@base", "overall_cascade", "cascade/wer",
                 "speech/mmsu/acc_chance", "speech/mmsu/fail", "text@base/speechmmlu"):
        assert name in metrics, name
    assert not metrics["forgetting"].higher_is_better and metrics["recovery"].higher_is_better
    assert not metrics["speech/mmsu/fail"].higher_is_better
    out = tmp_path / "board"
    assert main(["leaderboard", str(root), "--subsets", "sdqa,mmsu,speechmmlu", "--resamples", "200", "--output_path", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "forgetting" in printed and "cascade gap" in printed and "McNemar p" in printed
    page = (out / "leaderboard.html").read_text()
    assert page.count('src="data:image/png;base64,') == 1 and "http" not in page
    assert (out / "leaderboard_arms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_arm_covering_some_subsets_is_noted_not_averaged(arm_runs):
    root, _ = arm_runs
    for path in (root / "cascade").glob("*2025-05-03T10-00-00*"):  # the speechmmlu cascade run
        path.unlink()
    board = build_leaderboard([root], n_resamples=200)
    assert "cascade" not in board.arms and "cascade_gap" not in board.rows[0].derived
    assert any("cascade covers only ['sdqa', 'mmsu']" in n for n in board.notes)


def test_flips_between_any_two_arms_match_by_item_id(arm_runs):
    from lslm_eval.report.flips import BROKEN, FIXED, compare_runs, load_run

    root, truth = arm_runs
    speech = load_run(root / "speech", "voicebench_sdqa")
    cascade = load_run(root / "cascade", "voicebench_sdqa_cascade")  # logged in reverse order
    report = compare_runs(speech, cascade)
    right_s, right_c = truth["sdqa"]["speech"] > 0, truth["sdqa"]["cascade"] > 0
    assert report.counts[FIXED] == int(np.sum(~right_s & right_c)) and report.counts[BROKEN] == int(np.sum(right_s & ~right_c))
    assert report.summary()["mcnemar_p"] == pytest.approx(exact_mcnemar(report.counts[BROKEN], report.counts[FIXED]))


def test_compare_prints_each_sides_paired_statistics(arm_runs, capsys):
    root, truth = arm_runs
    assert main(["compare", "--baseline", str(root), "--candidate", str(root), "--resamples", "200"]) == 0
    printed = capsys.readouterr().out
    assert "**Paired statistics**" in printed
    lines = [line for line in printed.splitlines() if line.startswith("| candidate ") and "| forgetting |" in line]
    assert len(lines) == 1
    expected = overall_of(truth, "text@base") - overall_of(truth, "text")
    assert float(lines[0].split("|")[4]) == pytest.approx(expected, abs=1e-4)


def test_gap_test_compares_every_derived_difference_between_checkpoints(arm_runs, capsys):
    import shutil

    root, truth = arm_runs
    better = root.with_name(root.name + "_better")  # beside the runs, not inside them
    shutil.copytree(root, better)
    for path in (better / "base").glob("*2025-05-01T10-00-00*"):  # text@base on sdqa: every item right
        if path.suffix == ".jsonl":
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            path.write_text("".join(json.dumps({**line, "pedant": 100.0}) + "\n" for line in lines))
        else:
            data = json.loads(path.read_text())
            data["results"]["voicebench_sdqa_text"]["pedant,none"] = 100.0
            path.write_text(json.dumps(data))
    assert main(["compare", "--baseline", str(root), "--candidate", str(better), "--gap_test", "--resamples", "300",
                 "--tolerance", "100"]) == 0
    table = printed_table(capsys.readouterr().out.split("**Paired GAP test")[1])
    by_statistic = {row["statistic"]: row for row in table}
    assert list(by_statistic) == ["GAP", "forgetting", "base gap", "cascade gap"]
    raised = (100.0 - truth["sdqa"]["text@base"].mean()) / len(SUBSETS)
    assert float(by_statistic["forgetting"]["difference"]) == pytest.approx(raised, abs=1e-4)
    assert float(by_statistic["base gap"]["difference"]) == pytest.approx(raised, abs=1e-4)
    assert float(by_statistic["GAP"]["difference"]) == 0.0 and float(by_statistic["cascade gap"]["difference"]) == 0.0
    assert float(by_statistic["forgetting"]["p-value"]) < 0.05


def printed_table(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]
