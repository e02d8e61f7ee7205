"""The CTC stage's training text (trainers/ctc_corpus.py): every word dealt evenly, spelled as the LLM spells it."""

import collections
import random

from lslm_eval.trainers.ctc_corpus import QUESTIONS, STATEMENTS, ctc_texts, english_words, evaluation_texts, normalize, spelled, word_runs
from lslm_eval.trainers.instructions import make_instructions


class Pieces:
    """A tokenizer that knows a few capitalized names as one token and spells everything else letter by letter."""

    names = {" Paris", " Egypt"}

    def tokenize(self, text):
        return [text] if text in self.names else list(text)


def test_word_runs_say_every_word_once_a_pass_in_runs_of_at_most_nine():
    vocab = [f"w{i}" for i in range(101)]
    runs = word_runs(random.Random(0), vocab)
    said, lengths = collections.Counter(), []
    while sum(said.values()) < 3 * len(vocab):
        words = next(runs)[:-1].lower().split()
        said.update(words)
        lengths.append(len(words))
    assert set(said.values()) == {3} and max(lengths) <= 9 and sorted(lengths)[len(lengths) // 2] >= 4


def test_a_name_is_capitalized_only_where_the_tokenizer_spells_it_shorter():
    assert spelled("paris", Pieces()) == "Paris" and spelled("egypt", Pieces()) == "Egypt"
    assert spelled("river", Pieces()) == "river"


def test_english_words_are_frequent_words_letters_only_with_only_function_words_of_two_letters():
    words = english_words()
    assert len(words) == len(set(words)) and {"on", "to", "river", "honey", "egypt"} <= set(words)
    assert all(w.isascii() and w.isalpha() and w == w.lower() for w in words)
    assert not {"tv", "uk", "mr", "s"} & set(words)


def test_a_longer_corpus_adds_only_word_runs_spelled_as_the_llm_spells_them():
    questions = make_instructions(QUESTIONS, seed=0, exclude=set(evaluation_texts()))
    head = sum(normalize(q) not in evaluation_texts() for q in questions) + STATEMENTS  # the word runs start here
    long, short = ctc_texts(9000, Pieces()), ctc_texts(8000, Pieces())
    assert long[: len(short)] == short and len({normalize(t) for t in long}) == len(long)
    said = " ".join(t[:-1] for t in long[head:]).split()  # 4,200 runs: more than one pass through the words, under two
    counts = collections.Counter(w.lower() for w in said)
    assert {"Paris", "Egypt"} <= set(said) and not {"paris", "egypt"} & set(said)
    assert min(counts[w] for w in english_words()) >= 1 and max(counts.values()) <= 2
