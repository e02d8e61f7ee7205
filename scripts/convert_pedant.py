"""One-time conversion of qa-metrics 0.2.17's PEDANT classifier into plain, safely loadable files.

qa-metrics 0.2.17 downloads two joblib pickles of scikit-learn objects at run time (`lr_classifier`,
an SGDClassifier with log loss, and `tf-idf_vectorizer`, a TfidfVectorizer). This script unpickles
those trusted files once and writes what `lslm_eval.scoring.pedant` needs to reproduce them:

    config.json          provenance, TF-IDF settings, classifier classes and feature layout
    vocabulary.json      the TF-IDF terms, in column order
    weights.npz          idf (n_terms,), coef (n_terms + 3,), intercept (1,), float64
    LICENSE              qa-metrics' MIT licence (covers the classifier files)
    contractions-0.1.73/expansions.json, LICENSE
                         the lookup table `contractions.fix()` uses (PEDANT expands contractions)

The pickles were written by scikit-learn 1.3.2 and only load faithfully there: later versions either
fail (`sklearn.linear_model._sgd_fast.Log` was removed) or drop the idf weights without a word. Run
it in an environment with qa-metrics 0.2.17's own pins:

    python -m venv /tmp/pedant-ref && /tmp/pedant-ref/bin/pip install qa-metrics==0.2.17
    /tmp/pedant-ref/bin/python scripts/convert_pedant.py --source ../shared/data/pedant-0.2.17

then paste the printed sha256 table into `lslm_eval/scoring/pedant.py` (ASSET_SHA256). The output is
byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "lslm_eval" / "scoring" / "assets" / "pedant-0.2.17"
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "pedant-0.2.17"

QA_METRICS_VERSION = "0.2.17"
SKLEARN_VERSION = "1.3.2"
CONTRACTIONS_VERSION = "0.1.73"
# The files qa-metrics 0.2.17 fetches from github.com/zli12321/qa_metrics/raw/master/qa_metrics/classifier/
SOURCE_SHA256 = {
    "lr_classifier": "9c3dd5998745ece1cfb6cb16b953358f794e8716d63a08f3b212d8bc32a59b8b",
    "tf-idf_vectorizer": "e886c9ba3ddb15a4b693b075dfe19cfad36dc74e7f8f195b8d9e98e989f2ba4f",
    "LICENSE": "118a5cb29f5ee82fd36335a61d57103052971d1532072acb64eab3c81e99289c",
}
# PEDANT appends these three columns to the TF-IDF features, in this order (qa_metrics/pedant.py).
OVERLAP_FEATURES = ["f1", "precision", "recall"]
TFIDF_SETTINGS = [
    "input", "encoding", "decode_error", "strip_accents", "lowercase", "preprocessor", "tokenizer",
    "analyzer", "stop_words", "token_pattern", "ngram_range", "max_df", "min_df", "max_features",
    "vocabulary", "binary", "norm", "use_idf", "smooth_idf", "sublinear_tf",
]
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_environment() -> None:
    found = {
        "qa-metrics": (importlib.metadata.version("qa-metrics"), QA_METRICS_VERSION),
        "scikit-learn": (importlib.metadata.version("scikit-learn"), SKLEARN_VERSION),
        "contractions": (importlib.metadata.version("contractions"), CONTRACTIONS_VERSION),
    }
    wrong = [f"{name} {have} (need {need})" for name, (have, need) in found.items() if have != need]
    if wrong:
        raise SystemExit(
            "convert_pedant.py must run with qa-metrics 0.2.17's pinned stack; found " + ", ".join(wrong)
            + ". Create one with: python -m venv /tmp/pedant-ref && /tmp/pedant-ref/bin/pip install qa-metrics==0.2.17"
        )


def check_sources(source: Path) -> None:
    for name, expected in SOURCE_SHA256.items():
        path = source / name
        if not path.is_file():
            raise SystemExit(f"{path} is missing: pass --source, the folder holding {sorted(SOURCE_SHA256)}")
        if sha256_file(path) != expected:
            raise SystemExit(f"{path} has sha256 {sha256_file(path)}, expected {expected}: not the qa-metrics 0.2.17 file")


def tfidf_settings(vectorizer) -> dict:
    params = vectorizer.get_params()
    settings = {name: params[name] for name in TFIDF_SETTINGS}
    settings["ngram_range"] = list(settings["ngram_range"])
    settings["dtype"] = np.dtype(params["dtype"]).name
    return settings


def vocabulary_in_column_order(vectorizer) -> list[str]:
    terms = [""] * len(vectorizer.vocabulary_)
    for term, column in vectorizer.vocabulary_.items():
        terms[column] = term
    if "" in terms:
        raise SystemExit("the vectorizer's vocabulary does not cover its columns 0..n-1")
    return terms


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with fixed timestamps so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as handle:
                np.lib.format.write_array(handle, np.ascontiguousarray(array), allow_pickle=False)


def contraction_table() -> dict[str, str]:
    """The key -> expansion table behind `contractions.fix(text)` (leftovers and slang on, the defaults).

    Read from the built matcher itself, so every rule of the package (apostrophe-free variants, curly
    apostrophes, later tables overriding earlier ones, lower-cased keys) is already applied.
    """
    import contractions

    table = {key: expansion for key, (_length, expansion) in contractions.ts_leftovers_slang.automaton.items()}
    return dict(sorted(table.items()))


def convert(source: Path, out: Path) -> dict[str, str]:
    import joblib

    classifier = joblib.load(source / "lr_classifier")
    vectorizer = joblib.load(source / "tf-idf_vectorizer")
    n_terms = len(vectorizer.vocabulary_)
    coef = np.asarray(classifier.coef_, dtype=np.float64)
    if type(classifier).__name__ != "SGDClassifier" or classifier.loss != "log_loss":
        raise SystemExit(f"expected an SGDClassifier with log loss, got {classifier!r}")
    if coef.shape != (1, n_terms + len(OVERLAP_FEATURES)):
        raise SystemExit(f"classifier has {coef.shape} weights; expected (1, {n_terms} terms + {len(OVERLAP_FEATURES)})")

    out.mkdir(parents=True, exist_ok=True)
    config = {
        "source": {
            "package": f"qa-metrics=={QA_METRICS_VERSION}",
            "files": SOURCE_SHA256,
            "pickled_with": f"scikit-learn=={SKLEARN_VERSION}",
        },
        "tfidf": tfidf_settings(vectorizer) | {"n_terms": n_terms},
        "classifier": {
            "model": "SGDClassifier",
            "loss": classifier.loss,
            "classes": [str(label) for label in classifier.classes_],
            "features": ["tfidf", *OVERLAP_FEATURES],
        },
        "contractions": f"contractions=={CONTRACTIONS_VERSION}",
    }
    write_json(out / "config.json", config)
    write_json(out / "vocabulary.json", vocabulary_in_column_order(vectorizer))
    write_npz(out / "weights.npz", {
        "idf": np.asarray(vectorizer.idf_, dtype=np.float64),
        "coef": coef[0],
        "intercept": np.asarray(classifier.intercept_, dtype=np.float64),
    })
    shutil.copyfile(source / "LICENSE", out / "LICENSE")

    contractions_dir = out / f"contractions-{CONTRACTIONS_VERSION}"
    contractions_dir.mkdir(exist_ok=True)
    write_json(contractions_dir / "expansions.json", contraction_table())
    licence = importlib.metadata.distribution("contractions").read_text("LICENSE")
    if not licence:
        raise SystemExit("the installed contractions package has no LICENSE file to ship with its table")
    (contractions_dir / "LICENSE").write_text(licence, encoding="utf-8")

    files = sorted(path for path in out.rglob("*") if path.is_file())
    return {path.relative_to(out).as_posix(): sha256_file(path) for path in files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder with lr_classifier, tf-idf_vectorizer, LICENSE")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="asset folder to write")
    args = parser.parse_args()
    check_environment()
    check_sources(args.source)
    hashes = convert(args.source, args.out)
    print("ASSET_SHA256 = {")
    for name, digest in hashes.items():
        print(f'    "{name}": "{digest}",')
    print("}")


if __name__ == "__main__":
    main()
