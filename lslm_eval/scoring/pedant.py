"""PEDANT, qa-metrics 0.2.17's short-answer judge, as VoiceBench's sd-qa evaluator uses it.

VoiceBench (MatthewCYM/VoiceBench, src/evaluator/qa.py) scores each item with
`PEDANT().evaluate([reference.lower()], response.lower(), prompt.lower())` and reports the mean
verdict times 100 ("panda"). In qa-metrics 0.2.17 that call:

1. normalises reference and response: lower case, ASCII punctuation and the articles a/an/the
   removed, whitespace collapsed (`normalize_answer`);
2. is True when a normalised reference is a substring of the normalised response;
3. otherwise, for each reference, builds the text "[CLS] response [SEP] reference [SEP] question [SEP]"
   (question normalised, contractions expanded), turns it into TF-IDF features plus the response's
   token precision, recall and F1 against the reference (contractions expanded), and is True when a
   logistic SGD classifier says "correct" (decision <= 0) for any reference.

qa-metrics' confidence (`get_score`, `get_highest_score`) is P("correct") from the same classifier,
1.0 on a substring hit, but it normalises the question without expanding contractions, so it can
differ slightly from the probability behind the verdict. Both are reproduced as they are.

Later qa-metrics versions changed this behaviour (see SPEC section 8); parity is with 0.2.17. Its
classifier is shipped as plain files (assets/pedant-0.2.17, from scripts/convert_pedant.py), checked
by sha256 on load; TF-IDF and the classifier are recomputed here with numpy.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import regex
from scipy.special import expit

from lslm_eval.scoring.contractions import ContractionExpander

ASSET_DIR = Path(__file__).parent / "assets" / "pedant-0.2.17"
ASSET_SHA256 = {
    "LICENSE": "118a5cb29f5ee82fd36335a61d57103052971d1532072acb64eab3c81e99289c",
    "config.json": "e955c462917d2b80c5aff02961249beaabd0d1988c36058c72aac762315d470c",
    "contractions-0.1.73/LICENSE": "4ee69ca61830bf5ea8962069367b87b6e01a088b0f4e7a9cede4e931a180d810",
    "contractions-0.1.73/expansions.json": "3f409941e3b733db20fc4d7eb6035268ab3251c1e0575bcdca86c055d861dd54",
    "vocabulary.json": "c3193537f65da8e0a38a1dc1e9d748720cf030c8e6f8a0b58082e154a4baceab",
    "weights.npz": "0b4e31e16bfb23d008daeb186aa34e10474365070dae2f51fbfd5bb1ae52cb0d",
}
CONTRACTIONS_TABLE = "contractions-0.1.73/expansions.json"
CLASSES = ["correct", "incorrect"]  # SGDClassifier.classes_: a decision > 0 means "incorrect"
OVERLAP_FEATURES = ["f1", "precision", "recall"]
# The TF-IDF settings this module implements (TfidfVectorizer parameters, as converted).
SUPPORTED_TFIDF = {
    "analyzer": "word", "ngram_range": [1, 1], "lowercase": True, "strip_accents": None,
    "preprocessor": None, "tokenizer": None, "stop_words": None, "binary": False,
    "norm": "l2", "use_idf": True, "sublinear_tf": False,
}

_PUNCTUATION = str.maketrans("", "", string.punctuation)
# qa-metrics uses the third-party `regex` module here; its \b differs from `re`'s on combining marks.
_ARTICLES = regex.compile(r"\b(a|an|the)\b")

Reference = str | Sequence[str]


class AssetHashMismatch(ValueError):
    """A PEDANT asset file is missing or its sha256 differs from the pinned one."""


def _clean(text: str) -> str:
    """One pass of qa-metrics' `normalize_answer` / `remove_punctuation` (they are the same)."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def normalize_answer(text: str) -> str:
    """The normalisation PEDANT applies to references and responses (qa-metrics applies `_clean` twice)."""
    return _clean(_clean(text))


@dataclass(frozen=True, eq=False)
class Pedant:
    """qa-metrics 0.2.17's PEDANT classifier: TF-IDF over `vocabulary` (n_terms) + 3 overlap features."""

    vocabulary: dict[str, int]  # term -> column
    idf: np.ndarray  # (n_terms,) float64
    coef: np.ndarray  # (n_terms + 3,) float64: TF-IDF weights, then f1, precision, recall
    intercept: float
    token_pattern: re.Pattern
    contractions: ContractionExpander

    def tfidf(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse l2-normalised TF-IDF row of `text`: (columns, values), both (n_nonzero,)."""
        tokens = self.token_pattern.findall(text.lower())
        counts = Counter(self.vocabulary[token] for token in tokens if token in self.vocabulary)
        columns = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
        values = np.array([counts[column] for column in columns], dtype=np.float64) * self.idf[columns]
        norm = np.sqrt(np.dot(values, values))
        return columns, (values / norm if norm > 0 else values)

    def overlap(self, response: str, reference: str) -> tuple[float, float, float]:
        """Token-set (f1, precision, recall) of the response against the reference, contractions expanded."""
        response_words = set(_clean(self.contractions.expand(_clean(response))).split())
        reference_words = set(_clean(self.contractions.expand(_clean(reference))).split())
        shared = len(response_words & reference_words)
        precision = shared / len(response_words) if response_words else 0.0
        recall = shared / len(reference_words) if reference_words else 0.0
        f1 = 2 * (precision * recall) / (precision + recall) if precision + recall > 0 else 0.0
        return f1, precision, recall

    def decision(self, response: str, reference: str, question: str) -> float:
        """The classifier's decision for normalised texts; > 0 means "incorrect"."""
        columns, values = self.tfidf(f"[CLS] {response} [SEP] {reference} [SEP] {question} [SEP]")
        overlap = np.array(self.overlap(response, reference))
        return float(np.dot(values, self.coef[columns]) + np.dot(overlap, self.coef[-3:]) + self.intercept)

    def correct(self, reference: Reference, response: str, question: str) -> bool:
        """qa-metrics `PEDANT.evaluate` with a list of references (a string is one reference), as VoiceBench calls it."""
        references = [normalize_answer(text) for text in _references(reference)]
        response = normalize_answer(_text(response, "response"))
        if any(text in response for text in references):
            return True
        question = self.contractions.expand(_clean(_text(question, "question")))
        return any(self.decision(response, text, question) <= 0 for text in references)

    def score(self, reference: Reference, response: str, question: str) -> float:
        """qa-metrics `PEDANT.get_highest_score(...)[1]` (for one string, `get_score`): the best P("correct")."""
        response = normalize_answer(_text(response, "response"))
        question = normalize_answer(_text(question, "question"))
        return max(self._probability_correct(normalize_answer(text), response, question) for text in _references(reference))

    def _probability_correct(self, reference: str, response: str, question: str) -> float:
        """P("correct") for normalised texts as sklearn's predict_proba gives it; 1.0 on a substring hit."""
        if reference in response:
            return 1.0
        return float(1.0 - expit(self.decision(response, reference, question)))


def _text(value: str, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"PEDANT's {name} must be a string, got {type(value).__name__}: {value!r}")
    return value


def _references(reference: Reference) -> list[str]:
    if isinstance(reference, str):
        return [reference]
    if isinstance(reference, Sequence) and reference and all(isinstance(text, str) for text in reference):
        return list(reference)
    raise TypeError(f"PEDANT's reference must be a string or a non-empty list of strings, got {reference!r}")


def verify_assets(asset_dir: Path, expected_sha256: dict[str, str]) -> None:
    """Raise AssetHashMismatch unless every file in `expected_sha256` exists in `asset_dir` with that sha256."""
    for name, expected in expected_sha256.items():
        path = asset_dir / name
        if not path.is_file():
            raise AssetHashMismatch(f"PEDANT asset {path} is missing; reinstall lslm-eval (or re-run scripts/convert_pedant.py)")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise AssetHashMismatch(
                f"PEDANT asset {path} has sha256 {actual}, expected {expected}: the file was changed or corrupted; "
                "reinstall lslm-eval (or re-run scripts/convert_pedant.py and update ASSET_SHA256)"
            )


def load_pedant(asset_dir: Path = ASSET_DIR, expected_sha256: dict[str, str] = ASSET_SHA256) -> Pedant:
    """Check the asset files' sha256, then build the classifier from them (no unpickling)."""
    asset_dir = Path(asset_dir)
    verify_assets(asset_dir, expected_sha256)
    config = json.loads((asset_dir / "config.json").read_text(encoding="utf-8"))
    tfidf, classifier = config["tfidf"], config["classifier"]
    unsupported = {key: tfidf.get(key) for key, value in SUPPORTED_TFIDF.items() if tfidf.get(key) != value}
    if unsupported or classifier["classes"] != CLASSES or classifier["features"] != ["tfidf", *OVERLAP_FEATURES]:
        raise ValueError(
            f"{asset_dir}/config.json describes a model this module does not implement: {unsupported or classifier}"
        )
    terms = json.loads((asset_dir / "vocabulary.json").read_text(encoding="utf-8"))
    with np.load(asset_dir / "weights.npz", allow_pickle=False) as weights:
        idf, coef, intercept = weights["idf"], weights["coef"], weights["intercept"]
    sizes = {len(terms), tfidf["n_terms"], idf.shape[0], coef.shape[0] - len(OVERLAP_FEATURES)}
    if len(sizes) != 1 or intercept.shape != (1,):
        raise ValueError(
            f"{asset_dir}: vocabulary ({len(terms)} terms), idf {idf.shape}, coef {coef.shape} "
            f"and intercept {intercept.shape} disagree"
        )
    expansions = json.loads((asset_dir / CONTRACTIONS_TABLE).read_text(encoding="utf-8"))
    return Pedant(
        vocabulary={term: column for column, term in enumerate(terms)},
        idf=idf,
        coef=coef,
        intercept=float(intercept[0]),
        token_pattern=re.compile(tfidf["token_pattern"]),
        contractions=ContractionExpander(expansions),
    )


@functools.cache
def default_pedant() -> Pedant:
    """The shipped classifier, loaded and checked once per process."""
    return load_pedant()


def pedant_correct(reference: Reference, response: str, question: str) -> bool:
    """VoiceBench's sd-qa PEDANT verdict for one item (reference: one answer or a list of accepted answers)."""
    return default_pedant().correct(reference, response, question)


def pedant_score(reference: Reference, response: str, question: str) -> float:
    """qa-metrics 0.2.17's PEDANT confidence in [0, 1] that the response is correct (1.0 on a substring hit)."""
    return default_pedant().score(reference, response, question)


def pedant_percent(references: Sequence[Reference], responses: Sequence[str], questions: Sequence[str]) -> float:
    """VoiceBench's sd-qa "panda" number: the percentage of items PEDANT judges correct."""
    if not (len(references) == len(responses) == len(questions)) or not references:
        raise ValueError(
            f"pedant_percent needs equally many (>0) references, responses and questions; got "
            f"{len(references)}, {len(responses)}, {len(questions)}"
        )
    verdicts = [pedant_correct(*item) for item in zip(references, responses, questions)]
    return 100.0 * float(np.mean(verdicts))
