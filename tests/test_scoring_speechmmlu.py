"""SpeechMMLU answer rule (MiMo-Audio-Eval speechmmlu_evaluator.py): first `option\\s*([abcd])`, else wrong."""

import pytest

from lslm_eval.scoring.speechmmlu import NO_ANSWER, extract_speechmmlu_answer, speechmmlu_correct

# (response, option index read: a-d -> 0-3, -1 when nothing matches)
CASES = [
    ("The answer is option C.", 2),  # plain match
    ("OPTION B", 1),  # lowercased before matching
    ("option  d", 3),  # \s* allows several spaces
    ("option\nd", 3),  # ... and a newline
    ("optiona", 0),  # ... and none
    ("option a or option b", 0),  # the first match wins
    ("option e, then option c", 2),  # "option e" cannot match; the search goes on to "option c"
    ("options b", NO_ANSWER),  # "s" sits between "option" and the letter
    ("the adoption bill passed", 1),  # quirk: "option b" inside "adoption bill"
    ("I pick B", NO_ANSWER),  # a bare letter is not read
    ("", NO_ANSWER),  # empty response
]


@pytest.mark.parametrize("response, index", CASES)
def test_extract_table(response, index):
    assert extract_speechmmlu_answer(response) == index


def test_correct():
    assert speechmmlu_correct("Option C", 2)
    assert not speechmmlu_correct("Option C", 1)
    assert not speechmmlu_correct("no option named", 0)  # no match is wrong, never guessed


@pytest.mark.parametrize("answer", [4, -1, True, "2"])
def test_bad_answer(answer):
    with pytest.raises(ValueError, match="index"):
        speechmmlu_correct("option a", answer)
