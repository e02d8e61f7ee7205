"""IFEval through lm-eval's checkers, with VoiceBench's clean-up and `final` (src/evaluator/ifeval.py)."""

import json
import os
import subprocess
import sys

import pytest

from lslm_eval.scoring.ifeval import (
    IFEvalVerdict,
    clean_response,
    ifeval_final,
    ifeval_scores,
    ifeval_verdict,
    instruction_level_accuracy,
    parse_kwargs,
)

NO_COMMA = "punctuation:no_comma"
SENTENCES = "length_constraints:number_sentences"
END = "startend:end_checker"
REPEAT = "combination:repeat_prompt"
END_PHRASE = "Is there anything else I can help with?"


@pytest.fixture(scope="module", autouse=True)
def punkt_cache(tmp_path_factory):
    """Build the punkt data in a private cache, as a fresh machine would."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LSLM_EVAL_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


# (response, instruction ids, kwargs, prompt, expected (prompt_strict, instruction_strict, prompt_loose, instruction_loose))
CASES = [
    ("Hello world", [NO_COMMA], [{}], "p", (True, (True,), True, (True,))),  # passes both tests
    ("Hello, world", [NO_COMMA], [{}], "p", (False, (False,), False, (False,))),  # fails both
    ("Sure, here it is:\nno commas below", [NO_COMMA], [{}], "p",
     (False, (False,), True, (True,))),  # loose passes without the first line
    ("Dr. Smith went home.", [SENTENCES], [{"num_sentences": 2, "relation": "less than", "num_words": None}], "p",
     (True, (True,), True, (True,))),  # punkt knows "Dr."; None kwargs dropped
    ("One. Two. Three.", [SENTENCES], [{"num_sentences": 2, "relation": "less than"}], "p",
     (False, (False,), False, (False,))),  # three sentences
    ("Done. " + END_PHRASE + "<|user|>", [END], [{"end_phrase": END_PHRASE}], "p",
     (True, (True,), True, (True,))),  # VoiceBench strips the trailing "<|user|>" before checking
    ("<1>Hello world", [NO_COMMA, END], [{}, {"end_phrase": END_PHRASE}], "p",
     (False, (True, False), False, (True, False))),  # one of two instructions fails: prompt-level fails
    ("Say hi. Hi!", [REPEAT], [{"prompt_to_repeat": "Say hi"}], "Say hi",
     (True, (True,), True, (True,))),  # the checker gets the prompt
    ("", [NO_COMMA], [{}], "p", (False, (False,), False, (False,))),  # an empty response fails everything
]


@pytest.mark.parametrize("response, ids, kwargs, prompt, expected", CASES)
def test_verdict_table(response, ids, kwargs, prompt, expected):
    verdict = ifeval_verdict(response, prompt, ids, kwargs)
    assert (verdict.prompt_strict, verdict.instruction_strict, verdict.prompt_loose, verdict.instruction_loose) == expected


def test_kwargs_forms_agree():
    as_dicts = [{"num_sentences": 2, "relation": "less than", "end_phrase": None}]
    same = [
        parse_kwargs(json.dumps(as_dicts), 1),  # JSON string of the list
        parse_kwargs([json.dumps(as_dicts[0])], 1),  # list of JSON strings
        parse_kwargs(as_dicts, 1),  # the dataset's list of dicts
    ]
    assert same[0] == same[1] == same[2] == as_dicts
    assert parse_kwargs([None], 1) == [{}]


@pytest.mark.parametrize("kwargs, message", [([{}, {}], "1 instructions but 2"), ([3], "must be a dict"), (7, "must be a list")])
def test_kwargs_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        parse_kwargs(kwargs, 1)


def test_unknown_instruction_is_an_error():
    with pytest.raises(ValueError, match="unknown IFEval instruction"):
        ifeval_verdict("text", "p", ["made_up:rule"], [{}])


def test_clean_response():
    assert clean_response("<2> hi <|user|>") == "hi"
    assert clean_response("hi <|user|> there") == "hi <|user|> there"
    assert clean_response("<4>hi") == "<4>hi"


def test_scores_pool_instructions_over_items():
    verdicts = [
        IFEvalVerdict(True, (True, True), True, (True, True)),
        IFEvalVerdict(False, (True, False, False), True, (True, True, True)),
    ]
    scores = ifeval_scores(verdicts)
    assert scores["prompt_strict"] == pytest.approx(50.0)
    assert scores["instruction_strict"] == pytest.approx(60.0)  # 3 of 5 pooled (a per-item mean would be 66.7)
    assert scores["prompt_loose"] == scores["instruction_loose"] == pytest.approx(100.0)
    assert scores["final"] == pytest.approx((50 + 60 + 100 + 100) / 4) == ifeval_final(verdicts)
    assert instruction_level_accuracy([[True], [False, False, True]]) == pytest.approx(50.0)


def test_import_never_downloads(tmp_path):
    code = (
        "import nltk\n"
        "def refuse(*args, **kwargs): raise AssertionError('nltk.download was called')\n"
        "nltk.download = refuse\n"
        "from lslm_eval.scoring.ifeval import ifeval_verdict\n"
        "v = ifeval_verdict('Dr. Smith went home.', 'p', ['length_constraints:number_sentences'],"
        " [{'num_sentences': 2, 'relation': 'less than'}])\n"
        "print(v.prompt_strict, nltk.data.find('tokenizers/punkt_tab').path)\n"
    )
    env = {**os.environ, "LSLM_EVAL_CACHE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    verdict, path = out.stdout.split()
    assert verdict == "True" and path.startswith(str(tmp_path))
