"""Runs of the default model are named, in lm-eval's output folder and in the leaderboard."""

import json
import random

import pytest


def test_lm_eval_names_lslm_runs_after_their_checkpoint_not_a_random_id():
    from lm_eval.loggers.evaluation_tracker import GeneralConfigTracker

    def name(source, model_args):
        tracker = GeneralConfigTracker()
        tracker.log_experiment_args(model_source=source, model_args=model_args, system_instruction=None,
                                    chat_template=None, fewshot_as_multiturn=True)
        return tracker.model_name, tracker.model_name_sanitized

    assert name("lslm", "") == ("lslm-offline-default", "lslm-offline-default")
    assert name("lslm", "batch_size=8,probe=out/probe") == ("lslm-offline-default", "lslm-offline-default")
    assert name("lslm", "checkpoint=runs/a/checkpoint-2,device=cpu") == ("runs/a/checkpoint-2", "runs__a__checkpoint-2")
    assert name("lslm", {"llm": "offline:SmolLM2-135M-Instruct"})[0] == "lslm-offline:SmolLM2-135M-Instruct"
    assert name("lslm", "pretrained=runs/b")[0] == "runs/b"  # lm-eval's own rule, untouched
    random.seed(0)
    other = name("hf", "dtype=float32")[0]
    assert other != "lslm-offline-default" and len(other) == 8  # other models keep lm-eval's random id


def test_the_leaderboard_names_the_default_models_checkpoint(tmp_path):
    from lslm_eval.report.runs import read_runs

    folder = tmp_path / "quickstart" / "lslm-offline-default"
    folder.mkdir(parents=True)
    default = "/site-packages/lslm_eval/checkpoints/offline-default"
    results = {"results": {"voicebench_sdqa": {"alias": "voicebench_sdqa", "pedant,none": 10.0}},
               "configs": {"voicebench_sdqa": {"task": "voicebench_sdqa"}}, "n-samples": {"voicebench_sdqa": {"effective": 1}},
               "config": {"model": "lslm", "model_args": "", "checkpoint": default, "encoder": "tiny.en-offline"}}
    (folder / "results_2026-01-01T00-00-00.json").write_text(json.dumps(results))
    scores, notes = read_runs([tmp_path / "quickstart"])
    assert scores and {s.run.checkpoint for s in scores} == {default}
    assert not any("SAMPLE" in note for note in notes)
    results["configs"]["voicebench_sdqa"]["metadata"] = {"version": 1.0, "voicebench_source": "sample"}
    (folder / "results_2026-01-01T00-00-00.json").write_text(json.dumps(results))
    _, notes = read_runs([tmp_path / "quickstart"])
    assert [note for note in notes if "voicebench_sdqa scored on the SAMPLE shipped in the package" in note]
    results["config"].update(model_args="encoder=other.pt")  # named parts, no checkpoint: the parts name it
    (folder / "results_2026-01-01T00-00-00.json").write_text(json.dumps(results))
    scores, _ = read_runs([tmp_path / "quickstart"])
    assert {s.run.checkpoint for s in scores} == {"other.pt"}


def test_lm_evals_metadata_hint_is_not_repeated_for_every_one_of_our_tasks(caplog):
    import logging

    import lm_eval.tasks.manager  # noqa: F401  (the start-up hook acts after it loads)

    logger = logging.getLogger("lm_eval.api.task")
    hint = "{}: Custom kwargs can be passed to `--metadata` in console (as json string) or to the TaskManager."
    with caplog.at_level(logging.WARNING, logger="lm_eval.api.task"):
        for task in ("voicebench_sdqa", "voicebench_sdqa_text", "speechmmlu_biology", "someone_elses_task"):
            logger.warning(hint.format(task))
        logger.warning("voicebench_sdqa: another warning")
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["someone_elses_task", "voicebench_sdqa"]
