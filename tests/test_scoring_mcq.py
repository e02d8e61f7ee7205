"""OpenBookQA / MMSU letter extraction (VoiceBench src/evaluator/mcq.py): table of responses -> letters."""

import subprocess
import sys

import pytest

from lslm_eval.scoring.fallback import seeded_choice
from lslm_eval.scoring.mcq import ANSWER_TEMPLATES, LETTERS, extract_choice, mcq_correct, read_choice

# (response, letter the official rules read, or None when they read nothing)
CASES = [
    ("The answer is B.", "B"),  # template "the answer is [CHOICE]"
    ("答案是C", "C"),  # first template (Chinese), after lowercasing
    ("The correct answer is D, not (A).", "D"),  # "the correct answer is [CHOICE]" (earlier than "([CHOICE])")
    ("I would choose (B). The answer is C.", "C"),  # template order beats text order: "the answer is" is tried first
    ("It is c. Or maybe it is a.", "A"),  # one template, letters tried a..d: "is a." wins over the earlier "is c."
    ("I think the answer is a bird.", "A"),  # substring quirk: "the answer is a" inside "a bird"
    ("THE ANSWER IS D", "D"),  # lowercased before matching
    ("My answer is: **C**", "C"),  # markdown template "answer is: **[CHOICE]"
    ("My choice: **C**", None),  # no template has ": **[CHOICE]" without a preceding word
    ("**C**", None),  # nothing: no template, and it does not start with a letter
    ("B", "B"),  # letter-only fallback: the whole response is one letter
    ("b) Paris", "B"),  # prefix fallback: letter then ")"
    ("D: the sun", "D"),  # prefix fallback: letter then ":"
    ("c, because plants need light", "C"),  # prefix fallback: letter then ","
    ("<2>c", "C"),  # turn marker dropped, then the letter-only fallback
    ("<1> A.", "A"),  # turn marker dropped and stripped, then prefix "a."
    (" a", None),  # no strip: a leading space defeats the letter-only fallback
    ("e", None),  # not a letter A-D
    ("", None),  # empty response
    ("I'd say B.", "B"),  # template "i'd say [CHOICE]."
    ("The best option from the given choices would be a scorpion (a)", "A"),  # official special case, via "([CHOICE])"
    ("is \\( \\boxed{C} \\)", "C"),  # a LaTeX template
]


@pytest.mark.parametrize("response, letter", CASES)
def test_read_choice_table(response, letter):
    assert read_choice(response) == letter


@pytest.mark.parametrize("response, letter", [c for c in CASES if c[1] is not None])
def test_extract_choice_matched(response, letter):
    assert extract_choice(response, "openbookqa/7") == (letter, True)


def test_unmatched_response_gets_a_seeded_guess():
    letter, matched = extract_choice("I do not know.", "openbookqa/7")
    assert not matched and letter in LETTERS
    assert letter == seeded_choice(LETTERS, "openbookqa/7")
    assert extract_choice("something else entirely", "openbookqa/7") == (letter, False)  # same item, same guess


def test_guesses_repeat_across_processes_and_vary_across_items():
    keys = [f"mmsu/biology/{i}" for i in range(40)]
    here = [extract_choice("", k)[0] for k in keys]
    code = (
        "from lslm_eval.scoring.mcq import extract_choice;"
        f"print(''.join(extract_choice('', k)[0] for k in {keys!r}))"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert "".join(here) == there
    assert set(here) == set(LETTERS)  # all four letters used over 40 items


def test_mcq_verdict():
    assert mcq_correct("The answer is B.", "B", "k") == mcq_correct("b", "B", "k")
    verdict = mcq_correct("The answer is B.", "C", "k")
    assert (verdict.predicted, verdict.matched, verdict.correct) == ("B", True, False)
    guess = mcq_correct("no idea", "A", "k2")
    assert not guess.matched and guess.correct == (guess.predicted == "A")


def test_templates_are_the_official_list():
    assert len(ANSWER_TEMPLATES) == 162 and len(set(ANSWER_TEMPLATES)) == 162  # 163 official, one duplicate dropped
    assert ANSWER_TEMPLATES[0] == "答案是[CHOICE]" and ANSWER_TEMPLATES[-1] == '"[CHOICE]"'
    assert all("[CHOICE]" in t for t in ANSWER_TEMPLATES)


def test_mcq_bad_input():
    with pytest.raises(ValueError, match="one of"):
        mcq_correct("A", "a", "k")
    with pytest.raises(ValueError, match="item_key"):
        extract_choice("no idea", "")
    with pytest.raises(TypeError, match="string"):
        read_choice(None)
    with pytest.raises(ValueError, match="at least one option"):
        seeded_choice((), "k")
