"""`lslm-eval score RUN_DIR`: every checkpoint through lm-eval with probing, resumable, read by leaderboard."""

import json

import pytest
import torch

from lslm_eval.cli import main

TASKS = "voicebench_sdqa,voicebench_sdqa_text"
SAMPLE = '{"voicebench_source": "sample"}'


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, save_tiny_parts):
    """A training run folder with two checkpoints of a tiny Whisper + tiny LLM (different adaptors)."""
    from lslm_eval.model import LSLM, LSLMConfig

    root = tmp_path_factory.mktemp("run")
    save_tiny_parts(root)
    config = LSLMConfig(encoder=str(root / "whisper.pt"), llm=str(root / "llm"), stack=2, adaptor_hidden=24)
    for step in (1, 2):
        LSLM.build(config, dtype="float32", seed=step).save_pretrained(root / "run" / f"checkpoint-{step}")
    (root / "run" / "checkpoint-3").mkdir()  # a checkpoint whose save was killed: not a checkpoint
    return root / "run"


def test_score_every_checkpoint_then_skip_them_and_feed_the_leaderboard(tiny_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "scores"
    argv = ["score", str(tiny_run), "--tasks", TASKS, "--metadata", SAMPLE, "--limit", "2", "--gen_kwargs", "max_gen_toks=3",
            "--batch_size", "2", "--device", "cpu", "--output_path", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "2 checkpoints (0 done before)" in captured.out and "lslm-eval leaderboard" in captured.err
    for name in ("checkpoint-1", "checkpoint-2"):
        results = list((out / name).glob("results_*.json"))
        assert len(results) == 1 and (out / name / "probe" / "probe.json").is_file()
        data = json.loads(results[0].read_text())
        assert data["config"]["model"] == "lslm" and f"pretrained={tiny_run / name}" in data["config"]["model_args"]
        assert set(TASKS.split(",")) <= set(data["results"]) and data["config"]["limit"] == 2
        assert len(list((out / name).glob("samples_voicebench_sdqa_text_*.jsonl"))) == 1
    assert not (out / "checkpoint-3").exists()

    # resumable: finished checkpoints are not evaluated again
    import lm_eval

    monkeypatch.setattr(lm_eval, "simple_evaluate", lambda *a, **k: pytest.fail("a finished checkpoint was scored again"))
    assert main(argv) == 0
    assert "2 checkpoints (2 done before)" in capsys.readouterr().out
    # another limit is another measurement: not done
    monkeypatch.setattr(lm_eval, "simple_evaluate", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("evaluated")))
    with pytest.raises(RuntimeError, match="evaluated"):
        main([*argv[:-6], "--limit", "1", *argv[-6:]])

    # the leaderboard reads the output as it is: one row per checkpoint, named and stepped, with probe scalars
    assert main(["leaderboard", str(out / "checkpoint-1"), str(out / "checkpoint-2"), "--probe", str(out),
                 "--resamples", "50", "--output_path", str(tmp_path / "board"), "--format", "json"]) == 0
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert [(row["checkpoint"].rsplit("/", 1)[-1], row["step"]) for row in board["rows"]] == [("checkpoint-1", 1), ("checkpoint-2", 2)]
    assert all((row["probe"] or {}).get("aps_cos") is not None for row in board["rows"]), board["rows"]
    sample_notes = [note for note in board["notes"] if "SAMPLE shipped in the package" in note]
    assert len(sample_notes) == 2 and all("voicebench_sdqa, voicebench_sdqa_text" in note for note in sample_notes)


def test_score_names_what_is_missing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="holds no checkpoint-<step>/ with config.json"):
        main(["score", str(tmp_path / "empty"), "--tasks", TASKS])
    with pytest.raises(SystemExit, match="drop checkpoint=/pretrained="):
        main(["score", str(tmp_path / "empty"), "--tasks", TASKS, "--model_args", "checkpoint=x"])
