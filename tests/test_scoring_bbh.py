"""BBH answer extraction (VoiceBench src/evaluator/bbh.py): table of (task, response) -> answer."""

import pytest

from lslm_eval.scoring.bbh import (
    ANSWERS,
    BBH_TASKS,
    HYPERBATON_RULES,
    SPORTS_RULES,
    YES_NO_RULES,
    bbh_correct,
    bbh_reference_label,
    bbh_task,
    extract_bbh_answer,
    normalize_response,
    read_bbh_answer,
)
from lslm_eval.scoring.fallback import seeded_choice

# (item id, response, answer the official rules read (1 = yes / (B), 0 = no / (A)), or None)
CASES = [
    # hyperbaton
    ("hyperbaton_1", "A", 0),  # exact "a"
    ("hyperbaton_1", "B", 0),  # quirk: exact "b" also answers 0
    ("hyperbaton_1", "The answer is (B).", 1),  # "the answer is (b)"
    ("hyperbaton_1", "**Option A** has the correct adjective order.", 0),  # "**" spaced out, phrase rule
    ("hyperbaton_1", "b because opinion comes before size", 1),  # startswith "b "
    ("hyperbaton_1", "a) is right", 0),  # startswith "a)"
    ("hyperbaton_1", "Sentence B clearly seems to have a more logical order", 1),  # regex "sentence b (.+?) seems to have a more logical"
    ("hyperbaton_1", "I am not sure.", None),  # nothing: random guess officially
    # navigate (yes/no rules first)
    ("navigate_9", "The answer is No.", 0),  # yes/no rule "answer is no"
    ("navigate_9", "Final answer: yes", 1),  # ":" spaced out -> "final answer yes"
    ("navigate_9", "Yes.", 1),  # startswith "yes"
    ("navigate_9", "You do not return to the starting point.", 0),  # first navigate phrase
    ("navigate_9", "You return to the starting point.", 1),  # its positive twin
    ("navigate_9", "We end at the casino", 0),  # quirk: endswith "no"
    ("navigate_9", "Take 3 steps forward.", None),  # nothing
    # web of lies
    ("web_of_lies_4", "Therefore, Delfina does tell the truth.", 1),  # endswith "delfina does tell the truth"
    ("web_of_lies_4", "So Jim must be lying.", 1),  # quirk: endswith "must be lying" answers 1
    ("web_of_lies_4", "The answer is: Fidel lies.", 0),  # regex "answer is (.+?) lies"
    ("web_of_lies_4", "The answer is true", 1),  # yes/no rule "the answer is true"
    ("web_of_lies_4", "Maybe.", None),  # nothing
    # sports understanding
    ("sports_understanding_3", "The sentence is not plausible.", 0),  # phrase rule
    ("sports_understanding_3", "The sentence 'Joao Moutinho caught the screen pass' is not plausible.", 1),  # quirk regex -> 1
    ("sports_understanding_3", "Not plausible", 0),  # exact "not plausible"
    ("sports_understanding_3", "yes, it is", 1),  # startswith "yes"
    ("sports_understanding_3", "<1>**No**<|user|>", 0),  # markers and "**" removed -> "no"
    ("sports_understanding_3", "It's about soccer.", None),  # nothing
]


@pytest.mark.parametrize("item_id, response, answer", CASES)
def test_read_bbh_answer_table(item_id, response, answer):
    assert read_bbh_answer(response, item_id) == answer


@pytest.mark.parametrize("item_id, response, answer", [c for c in CASES if c[2] is not None])
def test_extract_matched(item_id, response, answer):
    assert extract_bbh_answer(response, item_id) == (answer, True)


def test_normalization():
    assert normalize_response("<1>**Yes**<|user|>") == "yes"
    assert normalize_response('Final:  "a"-b, c.d：e<|turn_end|>') == "final a b c d e"
    assert normalize_response("<2> No") == "no"


def test_unmatched_gets_seeded_guess():
    guess, matched = extract_bbh_answer("Maybe.", "web_of_lies_4")
    assert not matched and guess == seeded_choice(ANSWERS, "web_of_lies_4")
    assert extract_bbh_answer("Hmm.", "web_of_lies_4", item_key="web_of_lies_4")[0] == guess
    guesses = {extract_bbh_answer("", f"navigate_{i}")[0] for i in range(20)}
    assert guesses == {0, 1}


def test_task_dispatch():
    assert bbh_task("sports_understanding_12") == "sports_understanding"
    assert bbh_task("bbh-web_of_lies-3") == "web_of_lies"
    with pytest.raises(ValueError, match="names none of the tasks"):
        bbh_task("date_understanding_1")


@pytest.mark.parametrize("reference, label", [("Yes", 1), ("no", 0), ("(A)", 0), ("(b)", 1)])
def test_reference_labels(reference, label):
    assert bbh_reference_label(reference) == label


def test_bbh_verdict():
    verdict = bbh_correct("The answer is (B).", "(B)", "hyperbaton_1")
    assert (verdict.predicted, verdict.matched, verdict.correct) == (1, True, True)
    assert not bbh_correct("B", "(B)", "hyperbaton_1").correct  # the exact-"b" quirk
    with pytest.raises(ValueError, match="yes, no"):
        bbh_correct("yes", "maybe", "navigate_1")


def test_rule_tables_are_the_official_lists():
    assert len(BBH_TASKS) == 4
    assert len(YES_NO_RULES) == 30 and len(HYPERBATON_RULES) == 210
    assert len(SPORTS_RULES) == 69  # 71 official entries less two that can never decide
