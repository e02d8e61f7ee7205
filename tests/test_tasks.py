"""The VoiceBench and SpeechMMLU lm-eval tasks: they resolve, build their docs from the shipped sample, score
hand-made responses as the scoring modules do, and their groups report the paper and official Overalls."""

import json
from pathlib import Path

import numpy as np
import pytest

from lslm_eval.audio import load_audio
from lslm_eval.data import speechmmlu, voicebench
from lslm_eval.data.ids import ITEM_ID_COLUMN
from lslm_eval.scoring.bbh import bbh_correct
from lslm_eval.scoring.harm import is_refusal
from lslm_eval.scoring.ifeval import ifeval_scores, ifeval_verdict
from lslm_eval.scoring.judge import BASE_URL_ENV, JudgeNotConfigured
from lslm_eval.scoring.mcq import mcq_correct
from lslm_eval.scoring.pedant import pedant_correct
from lslm_eval.tasks.audio_docs import UnloggedAudio
from lslm_eval.tasks.voicebench.ifeval_item import IFEvalItemScore

from json_server import JsonServer

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
METADATA = {"voicebench_source": "sample", "speechmmlu_source": "sample"}
SDQA_SPLITS = voicebench.SDQA_SPLITS
MMSU_SPLITS = voicebench.MMSU_SPLITS
JUDGED = ("alpacaeval_full", "commoneval", "wildvoice")
PAPER5 = ("advbench", "ifeval", "openbookqa", "mmsu", "sdqa")
OFFICIAL9 = ("alpacaeval_full", "commoneval", "wildvoice", "sdqa", "mmsu", "openbookqa", "bbh", "ifeval", "advbench")
SUBSETS = ("sdqa", "mmsu", "openbookqa", "ifeval", "advbench", "bbh", *JUDGED)
PAIRED = [f"voicebench_{s}{m}" for s in SUBSETS for m in ("", "_text")]
SPLIT_TASKS = ([f"voicebench_sdqa_{s}" for s in SDQA_SPLITS]
               + [f"voicebench_mmsu_{d}{m}" for d in MMSU_SPLITS for m in ("", "_text")])
GROUPS = ("voicebench", "voicebench_text", "voicebench_paper5", "voicebench_paper5_text", "voicebench_sdqa_accents",
          "voicebench_mmsu_domains", "voicebench_mmsu_domains_text")
JUDGE_RATING = 4.0


@pytest.fixture(scope="module")
def manager():
    """One TaskManager over this project's task folder only (lm-eval's own ~14k YAML files take minutes)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=METADATA)


@pytest.fixture(scope="module")
def tasks(manager):
    """Every judge-free task, built."""
    judged = {f"voicebench_{s}{m}" for s in JUDGED for m in ("", "_text")}
    names = [n for n in PAIRED + SPLIT_TASKS + ["speechmmlu", "speechmmlu_text"] if n not in judged]
    return manager.load(names)["tasks"]


@pytest.fixture()
def no_judge(monkeypatch):
    monkeypatch.delenv(BASE_URL_ENV, raising=False)


def judge_reply(path, headers, body):
    """An OpenAI-compatible judge: open-ended prompts get JUDGE_RATING, sd-qa prompts "Yes" when the candidate
    contains the reference, else "No"."""
    prompt = body["messages"][-1]["content"]
    if "### Reference answer" in prompt:
        reference = prompt.split("### Reference answer\n", 1)[1].split("\n", 1)[0]
        candidate = prompt.split("### Candidate answer\n", 1)[1]
        reply = "Yes" if reference.lower() in candidate.lower() else "No"
    else:
        reply = f"{JUDGE_RATING:g}"
    return 200, {"choices": [{"index": i, "message": {"role": "assistant", "content": reply}} for i in range(body["n"])]}


@pytest.fixture(scope="module")
def fake_judge():
    with JsonServer(judge_reply) as judge:
        yield judge


@pytest.fixture()
def with_judge(monkeypatch, fake_judge):
    monkeypatch.setenv(BASE_URL_ENV, fake_judge.base_url)


def first_doc(task):
    return next(iter(task.eval_docs))


# --- resolution and docs ---------------------------------------------------------------------------------------------


def test_every_task_and_group_is_indexed(manager):
    assert set(PAIRED + SPLIT_TASKS + ["speechmmlu", "speechmmlu_text"]) <= set(manager.all_subtasks)
    assert set(GROUPS) <= set(manager.all_groups)


def test_every_task_builds_its_docs_from_the_sample(tasks):
    assert len(tasks) == len(PAIRED) - 2 * len(JUDGED) + len(SPLIT_TASKS) + 2
    for name, task in tasks.items():
        docs = list(task.eval_docs)
        assert docs, name
        audio_column = speechmmlu.AUDIO_COLUMN if name.startswith("speechmmlu") else voicebench.AUDIO_COLUMN
        transcript_column = speechmmlu.TEXT_COLUMN if name.startswith("speechmmlu") else voicebench.PROMPT_COLUMN
        if name.endswith("_text"):
            assert audio_column not in docs[0] and task.doc_to_text(docs[0]) == docs[0][transcript_column], name
        else:
            assert isinstance(docs[0][audio_column], UnloggedAudio) and task.doc_to_text(docs[0]) == "<audio>", name
            (audio,) = task.doc_to_audio(docs[0])
            assert audio["transcript"] == docs[0][transcript_column] and audio["id"] == docs[0][ITEM_ID_COLUMN]
            assert load_audio(audio).dtype == np.float32 and load_audio(audio).size > 1000
        assert task.config.generation_kwargs["do_sample"] is False and task.config.generation_kwargs["until"] == []


def test_mmsu_pools_its_domains_and_sdqa_splits_read_their_own_split(tasks):
    pooled = [d[ITEM_ID_COLUMN] for d in tasks["voicebench_mmsu"].eval_docs]
    per_domain = [d[ITEM_ID_COLUMN] for s in MMSU_SPLITS for d in tasks[f"voicebench_mmsu_{s}"].eval_docs]
    assert pooled == per_domain and len(set(pooled)) == len(pooled)
    assert all(d[ITEM_ID_COLUMN].startswith("voicebench/sd-qa/kenya/") for d in tasks["voicebench_sdqa_kenya"].eval_docs)
    speech = [d[ITEM_ID_COLUMN] for d in tasks["voicebench_sdqa"].eval_docs]
    assert speech == [d[ITEM_ID_COLUMN] for d in tasks["voicebench_sdqa_text"].eval_docs]
    assert speech[0].startswith("voicebench/sd-qa/usa/")


def test_logged_docs_name_their_audio_instead_of_holding_it(tasks):
    from lm_eval.utils import handle_non_serializable

    doc = first_doc(tasks["voicebench_sdqa"])
    logged = json.dumps(doc, default=handle_non_serializable)
    assert "audio not logged" in logged and len(logged) < 1000
    assert doc["audio"].data and len(doc["audio"].data) > 10 * len(logged)


# --- per-item scores -------------------------------------------------------------------------------------------------


def test_sdqa_scores_pedant_without_a_judge(tasks, no_judge):
    task = tasks["voicebench_sdqa"]
    doc = first_doc(task)
    right = task.process_results(doc, [f"It is {doc['reference']}."])
    wrong = task.process_results(doc, ["I have no idea."])
    assert right == {"pedant": 100.0, "score": 100.0} and wrong == {"pedant": 0.0, "score": 0.0}


def test_sdqa_adds_gpt_and_the_official_mean_with_a_judge(tasks, with_judge):
    task = tasks["voicebench_sdqa_text"]
    doc = first_doc(task)
    right = task.process_results(doc, [f"It is {doc['reference']}."])
    assert right == {"pedant": 100.0, "score": 100.0, "gpt": 100.0, "sdqa_official": 100.0, "official_score": 100.0}
    response = "no idea"
    pedant = 100.0 * pedant_correct(doc["reference"], response, doc["prompt"])
    wrong = task.process_results(doc, [response])
    assert wrong["gpt"] == 0.0 and wrong["sdqa_official"] == wrong["official_score"] == pedant / 2


@pytest.mark.parametrize("name", ["voicebench_mmsu", "voicebench_openbookqa_text", "voicebench_mmsu_law"])
def test_mcq_scores_the_letter_and_reports_failed_reads(tasks, name):
    task = tasks[name]
    for doc in task.eval_docs:
        wrong_letter = next(c for c in "ABCD" if c != doc["reference"])
        assert task.process_results(doc, [f"The answer is {doc['reference']}."]) == {
            "acc": 100.0, "fail": 0.0, "acc_chance": 100.0, "score": 100.0, "official_score": 100.0}
        wrong = task.process_results(doc, [f"The answer is {wrong_letter}."])
        assert wrong["acc"] == wrong["acc_chance"] == 0.0
        guessed = task.process_results(doc, ["Hmm."])
        expected = mcq_correct("Hmm.", doc["reference"], doc[ITEM_ID_COLUMN])
        assert guessed["fail"] == 100.0 and guessed["acc"] == 100.0 * expected.correct
        assert guessed["acc_chance"] == 25.0  # the guess at its expectation, whatever the seeded guess scored


def test_bbh_scores_by_task_rules_and_reports_failed_reads(tasks):
    task = tasks["voicebench_bbh"]
    for doc in task.eval_docs:
        for response in ("The answer is yes.", "The answer is (B).", "The correct answer is (A)", "No clue"):
            verdict = bbh_correct(response, doc["reference"], doc["id"], doc[ITEM_ID_COLUMN])
            scores = task.process_results(doc, [response])
            assert scores["acc"] == 100.0 * verdict.correct and scores["fail"] == 100.0 * (not verdict.matched)
            assert scores["acc_chance"] == (scores["acc"] if verdict.matched else 50.0)
            assert scores["score"] == scores["official_score"] == scores["acc"]


def test_advbench_refusal_rate_and_the_case_sensitive_option(tasks, manager):
    task = tasks["voicebench_advbench"]
    doc = first_doc(task)
    assert task.process_results(doc, ["I'm sorry, I can't help with that."])["refusal_rate"] == 100.0
    assert task.process_results(doc, ["Sure, here is how."]) == {"refusal_rate": 0.0, "score": 0.0, "official_score": 0.0}
    assert task.process_results(doc, ["i'm sorry"])["refusal_rate"] == 100.0
    from lm_eval.tasks import TaskManager

    strict = TaskManager(include_path=str(TASKS_DIR), include_defaults=False,
                         metadata={**METADATA, "advbench_case_sensitive": True}).load(["voicebench_advbench_text"])
    strict_task = strict["tasks"]["voicebench_advbench_text"]
    strict_doc = first_doc(strict_task)
    assert is_refusal("i'm sorry", case_sensitive=True) is False
    assert strict_task.process_results(strict_doc, ["i'm sorry"])["refusal_rate"] == 0.0
    assert strict_task.process_results(strict_doc, ["I'm sorry"])["refusal_rate"] == 100.0


def test_ifeval_parts_and_final_pool_instructions(tasks):
    task = tasks["voicebench_ifeval_text"]
    docs = list(task.eval_docs)
    responses = ["cow pig sheep", "Cows, pigs, and sheep.", "", "A short reply"] * len(docs)
    items = [task.process_results(doc, [response]) for doc, response in zip(docs, responses)]
    verdicts = [ifeval_verdict(r, d["prompt"], d["instruction_id_list"], d["kwargs"]) for d, r in zip(docs, responses)]
    expected = ifeval_scores(verdicts)
    aggregate = task.aggregation()
    for metric in ("final", "prompt_strict", "instruction_strict", "prompt_loose", "instruction_loose"):
        assert aggregate[metric]([item[metric] for item in items]) == pytest.approx(expected[metric]), metric
    assert aggregate["score"]([i["score"] for i in items]) == pytest.approx(expected["final"])
    # the sample log shows one number per item: the item's own mean of the four parts
    first = items[0]["final"]
    assert isinstance(first, IFEvalItemScore) and json.loads(json.dumps(first)) == float(first)
    v = verdicts[0]
    parts = (v.prompt_strict, np.mean(v.instruction_strict), v.prompt_loose, np.mean(v.instruction_loose))
    assert float(first) == pytest.approx(25.0 * sum(parts))


def test_speechmmlu_reads_the_first_option_named(tasks):
    task = tasks["speechmmlu"]
    doc = first_doc(task)
    letter = "abcd"[doc["answer"]]
    other = "abcd"[(doc["answer"] + 1) % 4]
    assert task.process_results(doc, [f"Option {letter.upper()}"]) == {"acc": 100.0, "fail": 0.0, "acc_chance": 100.0}
    assert task.process_results(doc, [f"option {other}, not option {letter}"]) == {"acc": 0.0, "fail": 0.0, "acc_chance": 0.0}
    assert task.process_results(doc, ["seven"]) == {"acc": 0.0, "fail": 100.0, "acc_chance": 25.0}  # official: wrong


# --- the judge -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("subset", JUDGED)
def test_judged_subsets_refuse_to_load_without_a_judge(manager, no_judge, subset):
    for name in (f"voicebench_{subset}", f"voicebench_{subset}_text"):
        with pytest.raises(JudgeNotConfigured, match=BASE_URL_ENV):
            manager.load([name])


def test_official_group_refuses_to_load_without_a_judge(manager, no_judge):
    with pytest.raises(JudgeNotConfigured, match=BASE_URL_ENV):
        manager.load(["voicebench"])


def test_judged_subsets_score_the_judge_rating(manager, with_judge):
    task = manager.load(["voicebench_commoneval_text"])["tasks"]["voicebench_commoneval_text"]
    scores = task.process_results(first_doc(task), ["Tokyo is the biggest city."])
    assert scores == {"judge_score": JUDGE_RATING, "score": 20 * JUDGE_RATING, "official_score": 20 * JUDGE_RATING}


# --- groups: a scripted model through lm-eval's evaluator ------------------------------------------------------------


def scripted_reply(question: str, answers: dict[str, str]) -> str:
    return answers.get(question, "I'm sorry, I cannot help with that.")


def sample_answers() -> dict[str, str]:
    """A reply per sample transcript: every other item answered right, refusals on every other AdvBench item."""
    answers = {}
    for config, schema in voicebench.VOICEBENCH_CONFIGS.items():
        for split in schema.splits:
            for i, doc in enumerate(voicebench.load_voicebench(config, split, "sample").select_columns(
                    [c for c in schema.columns if c != voicebench.AUDIO_COLUMN])):
                reference = doc.get("reference")
                if reference is not None:
                    answer = f"The answer is {reference}." if i % 2 == 0 else "Let me think."
                elif config == "advbench":
                    answer = "I'm sorry, I can't." if i % 2 == 0 else "Sure, here it is."
                else:
                    answer = "cow pig sheep"
                answers.setdefault(doc["prompt"], answer)
    return answers


def scripted_lm(answers):
    from lm_eval.api.model import LM

    class ScriptedLM(LM):
        """Answers each request by its transcript (speech: the audio's, text: the context)."""

        MULTIMODAL = True  # lm-eval runs tasks with doc_to_audio only on models that say so

        def generate_until(self, requests, disable_tqdm=False):
            return [scripted_reply(r.args[2]["audio"][0]["transcript"] if len(r.args) > 2 else r.args[0], answers)
                    for r in requests]

        def loglikelihood(self, requests):
            raise NotImplementedError

        def loglikelihood_rolling(self, requests):
            raise NotImplementedError

    return ScriptedLM()


def expected_subset_scores(tasks_by_name, answers, modality_suffix, judged):
    """Each subset's Overall points, computed from the scoring modules directly (not through the tasks)."""
    def replies(name):
        docs = list(tasks_by_name[f"voicebench_{name}{modality_suffix}"].eval_docs)
        return docs, [scripted_reply(d["prompt"], answers) for d in docs]

    scores = {}
    docs, out = replies("mmsu")
    scores["mmsu"] = 100 * np.mean([mcq_correct(r, d["reference"], d[ITEM_ID_COLUMN]).correct for d, r in zip(docs, out)])
    docs, out = replies("openbookqa")
    scores["openbookqa"] = 100 * np.mean([mcq_correct(r, d["reference"], d[ITEM_ID_COLUMN]).correct
                                          for d, r in zip(docs, out)])
    docs, out = replies("advbench")
    scores["advbench"] = 100 * np.mean([is_refusal(r) for r in out])
    docs, out = replies("ifeval")
    scores["ifeval"] = ifeval_scores([ifeval_verdict(r, d["prompt"], d["instruction_id_list"], d["kwargs"])
                                      for d, r in zip(docs, out)])["final"]
    docs, out = replies("sdqa")
    pedant = 100 * np.mean([pedant_correct(d["reference"], r, d["prompt"]) for d, r in zip(docs, out)])
    gpt = 100 * np.mean([d["reference"].lower() in r.lower() for d, r in zip(docs, out)])  # judge_reply's verdict
    scores["sdqa"], scores["sdqa_official"] = pedant, (pedant + gpt) / 2
    if judged:
        docs, out = replies("bbh")
        scores["bbh"] = 100 * np.mean([bbh_correct(r, d["reference"], d["id"], d[ITEM_ID_COLUMN]).correct
                                       for d, r in zip(docs, out)])
        scores.update({subset: 20 * JUDGE_RATING for subset in JUDGED})
    return scores


def evaluate(manager, names):
    from lm_eval.evaluator import simple_evaluate

    answers = sample_answers()
    results = simple_evaluate(model=scripted_lm(answers), tasks=names, task_manager=manager, bootstrap_iters=0,
                              log_samples=True)
    return answers, results


def test_paper5_groups_report_the_unweighted_mean_of_subset_scores(manager, tasks, no_judge):
    answers, results = evaluate(manager, ["voicebench_paper5", "voicebench_paper5_text"])
    for suffix in ("", "_text"):
        expected = expected_subset_scores(tasks, answers, suffix, judged=False)
        reported = {s: results["results"][f"voicebench_{s}{suffix}"]["score,none"] for s in PAPER5}
        assert reported == pytest.approx({s: expected[s] for s in PAPER5})
        overall = results["results"][f"voicebench_paper5{suffix}"]["score,none"]
        assert overall == pytest.approx(np.mean(list(reported.values())))
        sizes = [len(tasks[f"voicebench_{s}{suffix}"].eval_docs) for s in PAPER5]
        assert overall != pytest.approx(np.average(list(reported.values()), weights=sizes))  # not size-weighted
    logged = results["samples"]["voicebench_mmsu"][0]
    assert "audio not logged" in str(logged["doc"]["audio"]) and logged["acc"] in (0.0, 100.0)


def test_official_groups_report_the_leaderboard_overall(manager, tasks, with_judge):
    answers, results = evaluate(manager, ["voicebench", "voicebench_text"])
    for suffix in ("", "_text"):
        expected = expected_subset_scores(tasks, answers, suffix, judged=True)
        official = [expected["sdqa_official"] if s == "sdqa" else expected[s] for s in OFFICIAL9]
        group = results["results"][f"voicebench{suffix}"]
        assert group["official_score,none"] == pytest.approx(np.mean(official))
        assert group["score,none"] == pytest.approx(np.mean([expected[s] for s in OFFICIAL9]))
        assert results["results"][f"voicebench_commoneval{suffix}"]["judge_score,none"] == JUDGE_RATING


def test_split_groups_average_accents_and_pool_domains(manager, tasks, no_judge):
    answers, results = evaluate(manager, ["voicebench_sdqa_accents", "voicebench_mmsu_domains_text",
                                          "voicebench_mmsu_text"])
    accents = [results["results"][f"voicebench_sdqa_{s}"]["pedant,none"] for s in SDQA_SPLITS]
    assert results["results"]["voicebench_sdqa_accents"]["pedant,none"] == pytest.approx(np.mean(accents))
    pooled = results["results"]["voicebench_mmsu_text"]["acc,none"]
    assert results["results"]["voicebench_mmsu_domains_text"]["acc,none"] == pytest.approx(pooled)


def test_text_tasks_run_on_lm_evals_stock_hf_model(manager, tmp_path, tiny_tokenizer, llm_factory, no_judge):
    from lm_eval.evaluator import simple_evaluate

    model_dir = tmp_path / "tiny-llama"
    llm_factory(len(tiny_tokenizer)).save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    results = simple_evaluate(model="hf", model_args=f"pretrained={model_dir},device=cpu",
                              tasks=["voicebench_paper5_text", "speechmmlu_text"], task_manager=manager, limit=1,
                              gen_kwargs="max_gen_toks=4", bootstrap_iters=0)
    assert 0.0 <= results["results"]["voicebench_paper5_text"]["score,none"] <= 100.0
    assert results["results"]["speechmmlu_text"]["fail,none"] == 100.0  # 4 random tokens name no option
