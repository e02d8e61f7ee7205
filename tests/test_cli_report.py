"""`lslm-eval leaderboard | compare | correlate` on synthetic lm-eval 0.4.13 output folders."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from lslm_eval.cli import main
from lslm_eval.report.sources import PROBE_FILE
from lslm_eval.report.scores import OFFICIAL_SUBSETS, PAPER_SUBSETS, subset_scale


def report_test_builders():
    """The lm-eval output builders of tests/test_report_leaderboard.py (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("report_leaderboard_builders",
                                                  Path(__file__).with_name("test_report_leaderboard.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILDERS = report_test_builders()
item_scores, make_docs, write_run = BUILDERS.item_scores, BUILDERS.make_docs, BUILDERS.write_run

RESAMPLES = ["--resamples", "300"]
N_ITEMS = 30


def write_checkpoint(root: Path, checkpoint: str, subsets, p_speech: float, seed: int) -> dict[str, tuple]:
    """Speech and text runs of one checkpoint (separate lm-eval runs, as usual) -> {subset: (speech, text)}."""
    rng = np.random.default_rng(seed)
    speech, text, truth = {}, {}, {}
    for subset in subsets:
        docs = make_docs(subset)
        ease = rng.random(N_ITEMS)
        kind = "commoneval" if subset_scale(subset) != 1.0 else subset  # judge subsets score 1-5
        s, t = item_scores(kind, ease, p_speech), item_scores(kind, ease, 0.9)
        speech[f"voicebench_{subset}"], text[f"voicebench_{subset}_text"] = (docs, s), (docs, t)
        truth[subset] = (s, t)
    day = seed % 27 + 1
    write_run(root / "speech", checkpoint, speech, f"2025-04-{day:02d}T10-00-00")
    write_run(root / "text", checkpoint, text, f"2025-04-{day:02d}T11-00-00", shuffle_seed=seed)
    return truth


def gap_of(truth: dict, subsets) -> float:
    return float(np.mean([subset_scale(s) * (truth[s][1].mean() - truth[s][0].mean()) for s in subsets]))


def write_prober_json(folder: Path, checkpoint: str, cos_bar: float, dist_bar: float, aps_cos: float, aps_dist: float) -> Path:
    """A probe.json in the layout lslm_eval.probe.runner.Prober writes into probe=DIR."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PROBE_FILE
    path.write_text(json.dumps({"info": {"model": "lslm", "checkpoint": checkpoint, "tasks": ["voicebench_sdqa"]},
                                "sequence": {"cos_bar": cos_bar, "dist_bar": dist_bar},
                                "aps": {"cos": aps_cos, "dist": aps_dist}, "cka": {}}))
    return path


def markdown_rows(text: str) -> list[dict[str, str]]:
    """The first Markdown table in `text` as dicts keyed by its header."""
    start = next(i for i, line in enumerate(text.splitlines()) if line.startswith("|"))
    lines = []
    for line in text.splitlines()[start:]:
        if not line.startswith("|"):
            break
        lines.append(line)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture()
def paper_runs(tmp_path):
    """Two checkpoints of one training run, the paper's five subsets, probes in probe=DIR folders."""
    truths = {}
    for step, p_speech, seed in ((2000, 0.3, 1), (4000, 0.6, 2)):
        checkpoint = f"runs/qwen-lora/checkpoint-{step}"
        truths[step] = write_checkpoint(tmp_path, checkpoint, PAPER_SUBSETS, p_speech, seed)
        write_prober_json(tmp_path / "probe" / f"ck{step}", checkpoint, 0.5, 12.0, 0.4 + step / 1e5, 9.0)
    return tmp_path, truths


def test_probe_file_name_is_the_probers(paper_runs):
    from lslm_eval.probe.runner import AGGREGATES_FILE

    assert PROBE_FILE == AGGREGATES_FILE


def test_leaderboard_prints_markdown_and_writes_every_format(paper_runs, capsys):
    root, truths = paper_runs
    out = root / "board"
    code, stdout, stderr = run_cli(capsys, "leaderboard", root / "speech", root / "text", "--probe", root / "probe",
                                   "--output_path", out, *RESAMPLES)
    assert code == 0, stderr
    rows = markdown_rows(stdout)
    assert [r["checkpoint"] for r in rows] == ["runs/qwen-lora/checkpoint-2000", "runs/qwen-lora/checkpoint-4000"]
    for row, step in zip(rows, (2000, 4000)):
        assert row["step"] == str(step)
        assert float(row["GAP"]) == pytest.approx(gap_of(truths[step], PAPER_SUBSETS), abs=0.005)
        assert float(row["GAP 95% low"]) <= float(row["GAP"]) <= float(row["GAP 95% high"])
        assert float(row["speech sdqa"]) == pytest.approx(truths[step]["sdqa"][0].mean(), abs=0.005)
        assert float(row["aps_cos"]) == pytest.approx(0.4 + step / 1e5, abs=0.005)
    # the Overall is named; the official one is not silently dropped: its missing subsets are listed
    assert "Overall and the derived statistics (with intervals) are over ['sdqa', 'mmsu', 'openbookqa', 'ifeval', 'advbench'] " \
           "(the paper set)" in stdout
    assert "no official Overall (9 subsets) for lslm@runs/qwen-lora/checkpoint-2000, lslm@runs/qwen-lora/checkpoint-4000: " \
           "['alpacaeval_full', 'commoneval', 'wildvoice', 'bbh'] not evaluated" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.csv", "leaderboard.html", "leaderboard.json", "leaderboard.md",
                                                    "leaderboard_arms.png"]
    assert (out / "leaderboard.md").read_text() == stdout
    table = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert float(table[1]["GAP"]) == pytest.approx(gap_of(truths[4000], PAPER_SUBSETS))
    data = json.loads((out / "leaderboard.json").read_text())
    assert [r["step"] for r in data["rows"]] == [2000, 4000] and data["rows"][0]["gap_interval"]["n_items"]["sdqa"] == N_ITEMS
    page = (out / "leaderboard.html").read_text()
    assert page.count("<tr>") == 3 and "runs/qwen-lora/checkpoint-4000" in page


def test_leaderboard_shows_both_overalls_when_all_nine_subsets_are_there(tmp_path, capsys):
    truth = write_checkpoint(tmp_path, "runs/llama/checkpoint-100", OFFICIAL_SUBSETS, 0.5, 3)
    code, stdout, stderr = run_cli(capsys, "leaderboard", tmp_path, *RESAMPLES)
    assert code == 0, stderr
    row = markdown_rows(stdout)[0]
    assert float(row["GAP"]) == pytest.approx(gap_of(truth, OFFICIAL_SUBSETS), abs=0.005)  # default: every subset found
    assert float(row["GAP (paper)"]) == pytest.approx(gap_of(truth, PAPER_SUBSETS), abs=0.005)
    assert "(the official set)" in stdout
    code, stdout, _ = run_cli(capsys, "leaderboard", tmp_path, "--subsets", "paper", *RESAMPLES)
    row = markdown_rows(stdout)[0]
    assert float(row["GAP"]) == pytest.approx(gap_of(truth, PAPER_SUBSETS), abs=0.005)
    assert float(row["GAP (official)"]) == pytest.approx(gap_of(truth, OFFICIAL_SUBSETS), abs=0.005)
    assert "speech bbh" not in row and "outside the chosen Overall" in stdout


def test_missing_text_twin_is_an_error_naming_it(paper_runs, capsys):
    root, _ = paper_runs
    results = sorted((root / "text").rglob("results_*.json"))[0]
    data = json.loads(results.read_text())
    del data["results"]["voicebench_mmsu_text"], data["n-samples"]["voicebench_mmsu_text"]
    results.write_text(json.dumps(data))
    code, stdout, stderr = run_cli(capsys, "leaderboard", root / "speech", root / "text", *RESAMPLES)
    assert code == 2 and stdout == ""
    assert "lslm@runs/qwen-lora/checkpoint-2000: voicebench_mmsu has no text twin voicebench_mmsu_text" in stderr


def test_bad_arguments_are_named(paper_runs, capsys):
    root, _ = paper_runs
    code, _, stderr = run_cli(capsys, "leaderboard", root, "--probe", root / "speech", *RESAMPLES)
    assert code == 2 and f"--probe {root / 'speech'}: no probe.json inside" in stderr
    code, _, stderr = run_cli(capsys, "leaderboard", root, "--format", "md", *RESAMPLES)
    assert code == 2 and "give --out" in stderr
    with pytest.raises(SystemExit) as exit_info:
        main(["leaderboard", str(root), "--subsets", "sdqa,voicebench_bbh"])
    assert exit_info.value.code == 2 and "unknown subsets ['voicebench_bbh']" in capsys.readouterr().err


def perturb(truth: dict, flips: dict[str, int]) -> dict[str, tuple]:
    """Speech scores with `flips[subset]` items turned from right (100) to wrong (0); text unchanged."""
    changed = {}
    for subset, (speech, text) in truth.items():
        speech = speech.copy()
        right = np.flatnonzero(speech == 100.0)[: flips.get(subset, 0)]
        speech[right] = 0.0
        changed[subset] = (speech, text)
    return changed


def write_truth(root: Path, checkpoint: str, truth: dict, date: str) -> None:
    for modality, index, suffix in (("speech", 0, ""), ("text", 1, "_text")):
        tasks = {f"voicebench_{s}{suffix}": (make_docs(s), scores[index]) for s, scores in truth.items()}
        write_run(root / modality, checkpoint, tasks, date)


@pytest.fixture()
def gate_runs(tmp_path, capsys):
    """A baseline leaderboard JSON and candidate run folders: unchanged but for one item, and regressed."""
    truth = write_checkpoint(tmp_path / "base", "runs/a/checkpoint-1000", PAPER_SUBSETS, 0.5, 4)
    code, _, stderr = run_cli(capsys, "leaderboard", tmp_path / "base", "--output_path", tmp_path / "ci", "--format", "json", *RESAMPLES)
    assert code == 0, stderr
    write_truth(tmp_path / "noise", "runs/a/checkpoint-2000", perturb(truth, {"mmsu": 1}), "2025-05-01T00-00-00")
    write_truth(tmp_path / "worse", "runs/a/checkpoint-2000", perturb(truth, {"sdqa": 10}), "2025-05-01T00-00-00")
    return tmp_path, truth


def test_compare_passes_noise_within_tolerance_and_fails_a_planted_regression(gate_runs, capsys):
    root, _ = gate_runs
    baseline = root / "ci" / "leaderboard.json"
    code, stdout, stderr = run_cli(capsys, "compare", "--baseline", baseline, "--candidate", root / "noise",
                                   "--tolerance", "4", *RESAMPLES)
    assert code == 0, stdout + stderr
    checks = {r["metric"]: r for r in markdown_rows(stdout.split("\n\n", 1)[1])}
    assert "**Regression gate: PASS**" in stdout and set(checks) >= {"gap", "overall_speech", "speech/mmsu", "text/sdqa"}
    assert float(checks["speech/mmsu"]["change"]) == pytest.approx(-100 / N_ITEMS, abs=0.005)  # the one flipped item
    code, stdout, _ = run_cli(capsys, "compare", "--baseline", baseline, "--candidate", root / "worse", "--tolerance", "4",
                              *RESAMPLES)
    assert code == 1
    failed = {r["metric"] for r in markdown_rows(stdout.split("\n\n", 1)[1]) if r["status"] == "FAIL"}
    assert failed == {"gap", "overall_speech", "speech/sdqa"}  # GAP up 6.67, Overall down 6.67, sd-qa down 33.3
    code, stdout, _ = run_cli(capsys, "compare", "--baseline", baseline, "--candidate", root / "worse",
                              "--metrics", "text/*", *RESAMPLES)
    assert code == 0 and "speech/sdqa" not in stdout  # untracked metrics are not judged


def test_compare_standard_error_rule_and_flat_metric_json(gate_runs, capsys):
    root, truth = gate_runs
    baseline = root / "ci" / "leaderboard.json"
    code, stdout, _ = run_cli(capsys, "compare", "--baseline", baseline, "--candidate", root / "noise", "--tolerance", "0",
                              "--tolerance_se", "2", *RESAMPLES)
    assert code == 0 and "2*SE" in stdout  # per-item data give SEs: one flipped item is well within 2 SE
    flat = root / "flat.json"
    flat.write_text(json.dumps({"gap": gap_of(truth, PAPER_SUBSETS) - 5.0}))  # a baseline with a 5-point smaller GAP
    code, stdout, _ = run_cli(capsys, "compare", "--baseline", flat, "--candidate", root / "noise", *RESAMPLES)
    assert code == 1 and re.search(r"\| gap \| lower \| .* \| FAIL \|", stdout)


def test_gap_test_reports_the_paired_difference(gate_runs, capsys):
    root, truth = gate_runs
    code, stdout, _ = run_cli(capsys, "compare", "--baseline", root / "base", "--candidate", root / "worse",
                              "--metrics", "gap", "--tolerance", "10", "--gap_test", *RESAMPLES)
    assert code == 0  # a 6.67-point GAP rise is within a 10-point tolerance; the test still shows it
    test = markdown_rows(stdout.split("**Paired GAP test")[1])[0]
    assert float(test["difference"]) == pytest.approx(10 * 100 / N_ITEMS / len(PAPER_SUBSETS), abs=1e-4)
    assert float(test["95% low"]) > 0 and float(test["p-value"]) < 0.05 and test["items"] == str(N_ITEMS * 5)
    code, _, stderr = run_cli(capsys, "compare", "--baseline", root / "ci" / "leaderboard.json", "--candidate",
                              root / "worse", "--gap_test", *RESAMPLES)
    assert code == 2 and "--gap_test needs --baseline to be the lm-eval output of one checkpoint" in stderr


def test_correlate_prints_fits_and_writes_figures(tmp_path, capsys):
    gaps = {}
    for index, step in enumerate((1000, 2000, 3000, 4000)):
        checkpoint = f"runs/qwen-lora/checkpoint-{step}"
        truth = write_checkpoint(tmp_path, checkpoint, ("sdqa", "mmsu", "commoneval"), 0.2 + 0.15 * index, 10 + index)
        gaps[step] = gap_of(truth, ("sdqa", "mmsu", "commoneval"))
        aps_cos = 0.9 - gaps[step] / 100  # exactly linear: GAP = 90 - 100 * APS^cos
        write_prober_json(tmp_path / "probe" / str(step), checkpoint, 0.5 + 0.01 * (index % 2), 12.0 - index, aps_cos, 8.0 + index**2)
    out = tmp_path / "fig"
    code, stdout, stderr = run_cli(capsys, "correlate", tmp_path / "speech", tmp_path / "text", "--probe", tmp_path / "probe",
                                   "--output_path", out, *RESAMPLES)
    assert code == 0, stderr
    fits = {r["scalar"]: r for r in markdown_rows(stdout)}
    assert set(fits) == {"f_bar_cos", "f_bar_d", "aps_cos", "aps_d"} and {r["n"] for r in fits.values()} == {"4"}
    aps = fits["aps_cos"]
    assert float(aps["slope"]) == pytest.approx(-100, abs=1e-3) and float(aps["intercept"]) == pytest.approx(90, abs=1e-3)
    assert float(aps["r_squared"]) == pytest.approx(1.0) and float(aps["pearson_r"]) == pytest.approx(-1.0)
    slope, intercept = np.polyfit([12.0 - i for i in range(4)], [gaps[s] for s in sorted(gaps)], 1)
    assert float(fits["f_bar_d"]["slope"]) == pytest.approx(slope, abs=1e-3)
    assert float(fits["f_bar_d"]["intercept"]) == pytest.approx(intercept, abs=1e-3)
    for name in ("gap_vs_sequence_similarity.png", "gap_vs_aps.png", "training.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / name).stat().st_size > 10_000
    assert len((out / "correlation.csv").read_text().splitlines()) == 5


def test_correlate_without_steps_or_probes(tmp_path, capsys):
    for index, name in enumerate(("base", "tuned", "merged")):
        write_checkpoint(tmp_path, f"runs/{name}", ("sdqa",), 0.3 + 0.2 * index, 20 + index)
        write_prober_json(tmp_path / "probe" / name, f"runs/{name}", 0.5, 10.0, 0.3 + 0.1 * index, 9.0)
    code, stdout, stderr = run_cli(capsys, "correlate", tmp_path / "speech", tmp_path / "text", "--probe", tmp_path / "probe",
                                   "--scalars", "aps_cos", "--output_path", tmp_path / "fig", *RESAMPLES)
    assert code == 0 and [r["scalar"] for r in markdown_rows(stdout)] == ["aps_cos"]
    assert "no training-step figure" in stderr and not (tmp_path / "fig" / "training.png").exists()
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == ["correlation.csv", "gap_vs_aps.png"]
    (tmp_path / "probe" / "merged" / PROBE_FILE).unlink()
    code, _, stderr = run_cli(capsys, "correlate", tmp_path / "speech", tmp_path / "text", "--probe", tmp_path / "probe",
                              "--output_path", tmp_path / "fig", *RESAMPLES)
    assert code == 2 and "no 'f_bar_cos' for ['lslm@runs/merged']" in stderr


def test_compare_refuses_runs_of_other_subsets_or_other_items(tmp_path, capsys):
    write_checkpoint(tmp_path / "sdqa", "runs/a/checkpoint-1", ("sdqa",), 0.5, 1)
    write_checkpoint(tmp_path / "obqa", "runs/a/checkpoint-2", ("openbookqa",), 0.5, 2)
    code, _, stderr = run_cli(capsys, "compare", "--baseline", tmp_path / "sdqa", "--candidate", tmp_path / "obqa", *RESAMPLES)
    assert code == 2
    assert "different subsets: only in the baseline ['sdqa'], only in the candidate ['openbookqa']" in stderr
    write_checkpoint(tmp_path / "fewer", "runs/a/checkpoint-3", ("sdqa",), 0.5, 3)
    for samples in (tmp_path / "fewer").rglob("samples_*.jsonl"):  # the same subset with its last item left out
        lines = [line for line in samples.read_text().splitlines() if json.loads(line)["doc"]["prompt"] != "question number 29?"]
        samples.write_text("\n".join(lines) + "\n")
    for results in (tmp_path / "fewer").rglob("results_*.json"):  # as a run with --limit 29 records it
        data = json.loads(results.read_text())
        data["n-samples"] = {task: {"original": N_ITEMS, "effective": N_ITEMS - 1} for task in data["n-samples"]}
        results.write_text(json.dumps(data))
    code, _, stderr = run_cli(capsys, "compare", "--baseline", tmp_path / "sdqa", "--candidate", tmp_path / "fewer", *RESAMPLES)
    assert code == 2 and "subset sdqa: the runs were scored on different items: 1 only in the baseline" in stderr


def test_a_probe_of_the_default_model_joins_a_run_without_model_args(tmp_path):
    from lslm_eval.model import DEFAULT_CHECKPOINT
    from lslm_eval.report.leaderboard import build_leaderboard

    write_checkpoint(tmp_path, "lslm", ("sdqa",), 0.5, 5)
    for results in tmp_path.rglob("results_*.json"):  # `lm_eval --model lslm` with no model_args, as lslm records it
        data = json.loads(results.read_text())
        data["config"].update(model_args="", checkpoint=str(DEFAULT_CHECKPOINT))
        results.write_text(json.dumps(data))
    probe = write_prober_json(tmp_path / "probe", str(DEFAULT_CHECKPOINT), 0.5, 12.0, 0.4, 9.0)  # `lslm-eval probe`'s info
    board = build_leaderboard([tmp_path / "speech", tmp_path / "text"], [probe], n_resamples=100)
    (row,) = board.rows
    assert row.checkpoint == str(DEFAULT_CHECKPOINT) and row.probe
