"""PEDANT (sd-qa) parity with qa-metrics 0.2.17, normalisation, contraction expansion and asset checks.

The reference is qa-metrics 0.2.17 itself, fed the classifier files it downloads at run time
(/work/shared/data/pedant-0.2.17), never the network. Its pickles only load faithfully under
scikit-learn 1.3.2 (qa-metrics' pin, which needs numpy < 2), so:

- where that stack is installed, every case is compared live (and the converter is re-run);
- everywhere, every case is compared with tests/data/pedant_qa_metrics_0.2.17.json, the reference's
  outputs recorded by `python tests/test_pedant.py` under that stack.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lslm_eval.scoring.contractions import ContractionExpander
from lslm_eval.scoring.pedant import (
    ASSET_DIR,
    ASSET_SHA256,
    AssetHashMismatch,
    default_pedant,
    load_pedant,
    normalize_answer,
    pedant_correct,
    pedant_percent,
    pedant_score,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_PEDANT = Path(__file__).resolve().parents[2] / "shared/data/pedant-0.2.17"
RECORDED = Path(__file__).parent / "data" / "pedant_qa_metrics_0.2.17.json"
SCORE_TOLERANCE = 1e-12
PINNED_STACK = {"qa-metrics": "0.2.17", "scikit-learn": "1.3.2", "contractions": "0.1.73"}

# (id, reference, response, question). Responses are raw model outputs; references as in sd-qa.
CASES = [
    # substring hits after normalisation: case, punctuation, articles, numbers, embedded answers
    ("exact", "Paris", "paris", "What is the capital of France?"),
    ("case_and_period", "paris", "PARIS.", "what is the capital of france"),
    ("embedded_long", "paris", "The capital of France is Paris, which is also its largest city and home to the Eiffel Tower, the Louvre and many other famous landmarks.", "what is the capital of france"),
    ("dotted_acronym", "U.S.A.", "It is the usa.", "which country has fifty states"),
    ("reference_article", "The Beatles", "beatles", "which band recorded abbey road"),
    ("response_article", "beatles", "It was the Beatles!", "which band recorded abbey road"),
    ("an_article", "an apple", "Apple.", "what fruit fell on newton's head"),
    ("thousands_comma", "1,000", "About 1000 of them.", "how many soldiers were there"),
    ("decimal_point", "3.14", "Roughly 3.14159.", "what is pi to two decimals"),
    ("hyphen_removed", "forty-two", "The answer is fortytwo", "what is the answer to everything"),
    ("digit_inside_year", "8", "It happened in 1985.", "how many legs does a spider have"),
    ("word_inside_word", "art", "I went to the party.", "what did she study"),
    ("reference_only_article", "The", "No idea at all.", "what is the most common english word"),
    ("hedged_two_answers", "paris", "Either Lyon or Paris, I am not sure.", "what is the capital of france"),
    ("curly_apostrophe_kept", "it’s", "It’s raining.", "what is the weather"),
    ("whitespace_runs", "new  york", "It is in New\tYork\ncity.", "where is the statue of liberty"),
    # near misses decided by the classifier, both ways
    ("surname_only", "george washington", "Washington.", "who was the first president of the united states"),
    ("first_name_only", "george washington", "It was George.", "who was the first president of the united states"),
    ("title_and_surname", "george washington", "president washington", "who was the first president of the united states"),
    ("surname_in_sentence", "william shakespeare", "Shakespeare wrote it.", "who wrote hamlet"),
    ("surname_bare", "william shakespeare", "shakespeare", "who wrote hamlet"),
    ("partial_place", "mount everest", "Everest", "what is the tallest mountain in the world"),
    ("partial_place_long", "mount everest", "Everest, in the Himalayas.", "what's the tallest mountain in the world"),
    ("misspelling", "barack obama", "Barak Obama", "who was the 44th president"),
    ("surname_with_date", "albert einstein", "Einstein developed it in 1905.", "who developed the theory of relativity"),
    ("adjective_only", "the pacific ocean", "pacific", "what is the largest ocean"),
    ("two_word_surname", "leonardo da vinci", "Da Vinci painted the Mona Lisa.", "who painted the mona lisa"),
    ("wrong_person", "leonardo da vinci", "Michelangelo", "who painted the mona lisa"),
    ("accent_dropped", "pelé", "Pele", "who is the most famous brazilian footballer"),
    ("abbreviation", "new york city", "NYC", "what is the most populous city in the us"),
    ("city_without_city", "new york city", "New York", "what is the most populous city in the us"),
    ("uk_for_united_kingdom", "united kingdom", "the UK", "which country did the us gain independence from"),
    ("chemical_formula", "carbon dioxide", "CO2", "what gas do plants absorb"),
    ("first_word_only", "carbon dioxide", "carbon", "what gas do plants absorb"),
    ("wrong_planet", "jupiter", "Saturn is the largest planet.", "what is the largest planet"),
    ("dont_know", "jupiter", "I don't know.", "what is the largest planet"),
    ("empty_response", "jupiter", "", "what is the largest planet"),
    ("numeral_for_word", "8", "eight", "how many legs does a spider have"),
    ("word_for_numeral", "eight", "8 legs", "how many legs does a spider have"),
    ("near_year", "1945", "1944", "when did world war ii end"),
    ("first_name_with_title", "isaac newton", "Sir Isaac.", "who formulated the laws of motion"),
    ("initials", "franklin d roosevelt", "FDR", "who was president during most of world war ii"),
    ("middle_initial_dropped", "franklin d. roosevelt", "Franklin Roosevelt", "who was president during most of world war ii"),
    ("wrong_river", "the nile", "The Amazon river", "what is the longest river"),
    ("extra_word_in_reference", "nile river", "the nile", "what is the longest river"),
    ("long_wrong", "jupiter", "There are eight planets in the solar system. Mercury is closest to the sun, Venus is the hottest, Earth has life, Mars is red, and Saturn has the most famous rings. " * 3, "what is the largest planet"),
    # decisions within 0.02 of the classifier's threshold, one each side
    ("near_threshold_yes", "william shakespeare", "Bill Shakespeare", "who was the first president of the us"),
    ("near_threshold_no", "barack obama", "President Obama", "who was the first president of the us"),
    # question words and contractions (verdict expands them in the question, the score does not)
    ("question_echo", "paris", "The capital of France.", "What's the capital of France?"),
    ("contractions_in_response", "william shakespeare", "I'm sure it's Shakespeare, isn't it?", "who's the author of hamlet"),
    ("verdict_yes_score_below_half", "mount everest", "Probably Everest.", "what's the highest peak on earth"),
    ("verdict_no_score_above_half", "william shakespeare", "William wrote it.", "who's the author of hamlet"),
    ("contractions_everywhere", "neil armstrong", "They're sure it wasn't Aldrin, it's Armstrong.", "who's the first man who'd walked on the moon"),
    # several accepted answers (qa-metrics' list branch)
    ("list_second_hits", ["eight", "8"], "A spider has 8 legs.", "how many legs does a spider have"),
    ("list_classifier_first", ["leonardo da vinci", "leonardo"], "Da Vinci painted the Mona Lisa.", "who painted the mona lisa"),
    ("list_classifier_second", ["united kingdom", "great britain"], "Britain", "which country did the us gain independence from"),
    ("list_none", ["leonardo da vinci", "da vinci"], "Raphael", "who painted the mona lisa"),
]


def _reference_list(reference):
    return reference if isinstance(reference, list) else [reference]


def _pinned_stack_problem() -> str | None:
    """Why qa-metrics 0.2.17 cannot serve as the live reference here, or None when it can."""
    for package, version in PINNED_STACK.items():
        try:
            found = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return f"{package} is not installed (pip install qa-metrics==0.2.17 brings the pinned stack)"
        if found != version:
            return (
                f"{package} {found} is installed, but qa-metrics 0.2.17's classifier pickles need {package} {version} "
                "(newer scikit-learn fails to unpickle them or silently drops their idf weights)"
            )
    if not SHARED_PEDANT.is_dir():
        return f"{SHARED_PEDANT} (the classifier files qa-metrics 0.2.17 downloads) is not available"
    return None


def load_live_reference():
    """qa-metrics 0.2.17's PEDANT with the shared classifier files; its downloading __init__ is bypassed."""
    import joblib
    from qa_metrics.pedant import PEDANT

    judge = PEDANT.__new__(PEDANT)
    judge.model = joblib.load(SHARED_PEDANT / "lr_classifier")
    judge.tokenizer = joblib.load(SHARED_PEDANT / "tf-idf_vectorizer")
    return judge


def reference_outputs(judge) -> list[dict]:
    """The reference's verdict (called as VoiceBench calls it) and confidence for every case."""
    outputs = []
    for case_id, reference, response, question in CASES:
        references = _reference_list(reference)
        correct = judge.evaluate([text.lower() for text in references], response.lower(), question.lower())
        if isinstance(reference, list):
            score = judge.get_highest_score(reference, response, question)[1]
        else:
            score = judge.get_score(reference, response, question)
        outputs.append({"id": case_id, "reference": reference, "response": response, "question": question,
                        "correct": bool(correct), "score": float(score)})
    return outputs


@pytest.fixture(scope="module")
def live_reference():
    problem = _pinned_stack_problem()
    if problem:
        pytest.skip(f"live qa-metrics 0.2.17 comparison not possible: {problem}; the recorded comparison still runs")
    return load_live_reference()


@pytest.fixture(scope="module")
def recorded() -> list[dict]:
    return json.loads(RECORDED.read_text(encoding="utf-8"))["cases"]


def assert_matches(expected: list[dict]):
    mismatches = []
    for want in expected:
        correct = pedant_correct(want["reference"], want["response"], want["question"])
        score = pedant_score(want["reference"], want["response"], want["question"])
        if correct != want["correct"] or abs(score - want["score"]) > SCORE_TOLERANCE:
            mismatches.append((want["id"], (correct, score), (want["correct"], want["score"])))
    assert not mismatches, f"(id, ours, qa-metrics 0.2.17): {mismatches}"
    percent = pedant_percent(*zip(*[(w["reference"], w["response"], w["question"]) for w in expected]))
    assert percent == pytest.approx(100.0 * sum(w["correct"] for w in expected) / len(expected), abs=1e-12)


def test_case_table_is_varied():
    assert len(CASES) >= 40 and len({case[0] for case in CASES}) == len(CASES)
    by_classifier = [
        pedant_correct(reference, response, question)
        for _, reference, response, question in CASES
        if not any(normalize_answer(text) in normalize_answer(response) for text in _reference_list(reference))
    ]
    assert by_classifier.count(True) >= 5 and by_classifier.count(False) >= 5
    # qa-metrics expands contractions in the question for the verdict but not for the score
    assert any(pedant_correct(*case[1:]) != (pedant_score(*case[1:]) >= 0.5) for case in CASES)


def test_parity_with_live_qa_metrics(live_reference):
    assert_matches(reference_outputs(live_reference))


def test_parity_with_recorded_qa_metrics(recorded):
    recorded_inputs = [(c["id"], c["reference"], c["response"], c["question"]) for c in recorded]
    assert recorded_inputs == [tuple(case) for case in CASES], "CASES changed: re-record with `python tests/test_pedant.py`"
    assert_matches(recorded)


def test_converter_reproduces_shipped_assets(live_reference, tmp_path):
    subprocess.run(
        [sys.executable, str(REPO / "scripts/convert_pedant.py"), "--source", str(SHARED_PEDANT), "--out", str(tmp_path)],
        check=True, capture_output=True,
    )
    written = {path.relative_to(tmp_path).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
               for path in tmp_path.rglob("*") if path.is_file()}
    assert written == ASSET_SHA256


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The U.S.A.!", "usa"),
        ("An apple a day", "apple day"),
        ("banana theater", "banana theater"),
        ("  Forty-two,\tthousand ", "fortytwo thousand"),
        ("1,000.5", "10005"),
        ("It’s café", "it’s café"),  # only ASCII punctuation goes
        ("a the an", ""),
        ("x\u00a0the\u2003y", "x y"),
        ("a\u0301 b", "a\u0301 b"),  # `regex`'s \b: a combining mark is part of the word
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_normalize_answer_matches_qa_metrics():
    tools = pytest.importorskip("qa_metrics.utils.tools", reason="qa-metrics 0.2.17 is not installed")
    rng = random.Random(0)
    pieces = ["The", "a", "an", "U.S.", "it’s", "Forty-two", "café", "a\u0301", "\t", "  ", "!", "1,000", "theater", "\u00a0", "Ω"]
    for _ in range(500):
        text = "".join(rng.choice(pieces) + rng.choice(["", " "]) for _ in range(rng.randint(0, 8)))
        assert normalize_answer(text) == tools.remove_punctuation(tools.normalize_answer(text)), repr(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("i dont know", "i do not know"),
        ("im here", "i am here"),
        ("its fine", "its fine"),  # "it's" is one of contractions' safety keys: no apostrophe-free form
        ("whats up theyre", "what is up they are"),
        ("y’all’d", "you all would"),  # the longer overlapping match replaces "y’all"
        ("undone", "undone"),  # keys only match between word boundaries
    ],
)
def test_contraction_expansion(text, expected):
    assert default_pedant().contractions.expand(text) == expected


def test_contraction_expansion_matches_contractions_package():
    contractions = pytest.importorskip("contractions", reason="contractions (a qa-metrics dependency) is not installed")
    expander = default_pedant().contractions
    rng = random.Random(1)
    words = list(expander.expansions)[::7] + ["i", "you", "the", "r", "u", "’", "d", "ve", "x1", "é", "hello"]
    for _ in range(1500):
        text = "".join(rng.choice(words) + rng.choice(["", " ", " ", "’", "-"]) for _ in range(rng.randint(0, 8))).lower()
        assert expander.expand(text) == contractions.fix(text).lower(), repr(text)


def test_contraction_expander_rejects_empty_table():
    with pytest.raises(ValueError, match="non-empty"):
        ContractionExpander({})


def test_overlap_features():
    f1, precision, recall = default_pedant().overlap("shakespeare wrote it", "william shakespeare")
    assert (precision, recall) == (1 / 3, 1 / 2) and f1 == pytest.approx(0.4)
    assert default_pedant().overlap("", "paris") == (0.0, 0.0, 0.0)
    tools = pytest.importorskip("qa_metrics.utils.tools", reason="qa-metrics 0.2.17 is not installed")
    for response, reference in [("im sure its shakespeare", "william shakespeare"), ("they dont", "do not"), ("", "x")]:
        assert default_pedant().overlap(response, reference) == tools.calculate_f1_score_with_precision(response, reference)


def test_substring_rule_and_bad_input():
    assert pedant_correct("Paris", "I think it's PARIS!", "capital of france?") is True
    assert pedant_score("Paris", "paris", "q") == 1.0
    assert 0.0 < pedant_score("paris", "lyon", "what is the capital of france") < 0.5
    with pytest.raises(TypeError, match="response must be a string"):
        pedant_correct("paris", None, "q")
    with pytest.raises(TypeError, match="non-empty list"):
        pedant_correct([], "paris", "q")
    with pytest.raises(ValueError, match="equally many"):
        pedant_percent(["paris"], ["paris", "lyon"], ["q"])


def test_tampered_or_missing_asset_is_refused(tmp_path):
    copy = tmp_path / "pedant"
    shutil.copytree(ASSET_DIR, copy)
    assert load_pedant(copy).correct("paris", "lyon", "capital of france") is False
    weights = copy / "weights.npz"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(AssetHashMismatch, match=r"weights\.npz has sha256 .* expected"):
        load_pedant(copy)
    (copy / "vocabulary.json").unlink()
    with pytest.raises(AssetHashMismatch, match=r"vocabulary\.json is missing"):
        load_pedant(copy)


def test_runtime_imports_no_sklearn_pickles_or_harness():
    code = ("import sys, lslm_eval.scoring.pedant as p; p.pedant_correct('a', 'b', 'c'); "
            "print(sorted(m for m in ('sklearn', 'joblib', 'torch', 'lm_eval') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


if __name__ == "__main__":
    # Record the reference outputs; needs qa-metrics 0.2.17's pinned stack and the shared classifier files.
    problem = _pinned_stack_problem()
    if problem:
        raise SystemExit(f"cannot record: {problem}")
    versions = {package: importlib.metadata.version(package) for package in [*PINNED_STACK, "numpy", "scipy"]}
    RECORDED.write_text(json.dumps({
        "reference": "qa_metrics.pedant.PEDANT: evaluate([reference.lower()], response.lower(), question.lower()) "
                     "and get_score(reference, response, question) (get_highest_score(...)[1] for lists)",
        "versions": versions,
        "classifier_files": {name: hashlib.sha256((SHARED_PEDANT / name).read_bytes()).hexdigest()
                             for name in ("lr_classifier", "tf-idf_vectorizer")},
        "cases": reference_outputs(load_live_reference()),
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {RECORDED}")
