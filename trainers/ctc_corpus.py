"""Training text for the CTC alignment stage: broad vocabulary, never an evaluation item.

Three kinds of sentence, in a fixed seeded order (`ctc_texts(n)`: the first min(3,200, 2n/5) questions, the next
min(1,600, n/5) statements, the rest word runs: from 8,000 texts on, a longer corpus only adds word runs, and a
shorter one is its prefix):
    questions   the instruction templates (`make_instructions`), the form the adaptor must carry;
    statements  facts from the instruction word lists said as sentences ("The capital of Peru is Lima.");
    word runs   4-9 words of the ENGLISH_WORDS most frequent English words (wordfreq's list, letters only, three
                or more) dealt evenly: every word once per pass through the list, the passes reshuffled, so each
                word is said about equally often (a word the stage has heard under five times is rarely decoded:
                docs/offline-default.md). A word is written as the LLM's tokenizer spells it most compactly
                ("Paris", not "paris"; "the", not "The"), so the targets are the tokens the LLM reads in text.
No sentence whose normalized form is an evaluation item (`evaluation_texts`: every prompt of the shipped VoiceBench
sample and of the held-out set, each MCQ prompt also line by line) is ever returned.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterator

from lslm_eval.trainers import instructions as words
from lslm_eval.trainers.instructions import make_instructions

ENGLISH_WORDS = 14000
FUNCTION_WORDS = 150  # the two-letter words among these are kept ("on", "at", "us"); later ones are mostly abbreviations
QUESTIONS, STATEMENTS = 3200, 1600  # at most; a corpus under 8,000 texts keeps the 2:1:2 proportions


def normalize(text: str) -> str:
    """Lowercase, every run of non-alphanumerics one space: the identity used for overlap checks."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


@functools.cache
def evaluation_texts() -> frozenset[str]:
    """Normalized prompts of every shipped evaluation item (VoiceBench sample + held-out), MCQ prompts also per line."""
    from lslm_eval.data.voicebench import evaluation_prompts

    out = set()
    for prompt in evaluation_prompts():
        out.add(normalize(prompt))
        out.update(normalize(line) for line in prompt.splitlines() if line.strip())
    out.discard("")
    return frozenset(out)


def statements(rng: random.Random) -> str:
    """One fact from the instruction word lists said as a sentence."""
    country, (capital, language) = rng.choice(list(words.COUNTRIES.items()))
    book, writer = rng.choice(list(words.WRITERS.items()))
    thing, material = rng.choice(list(words.MATERIALS.items()))
    choices = [
        f"The capital of {country} is {capital}.",
        f"People in {country} mostly speak {language}.",
        f"{book} was written by {writer}.",
        f"{thing[0].upper() + thing[1:]} is made of {material}.",
        f"The {rng.choice(words.ANIMALS)} and the {rng.choice(words.ANIMALS)} live near the {rng.choice(words.WORDS)}.",
        f"My {rng.choice(words.WORDS)} is {rng.choice(words.ADJECTIVE_OPPOSITES)} and {rng.choice(words.ADJECTIVE_OPPOSITES)}.",
        f"After {rng.choice(words.WEEKDAYS)} we talked about {rng.choice(words.TOPICS)}.",
        f"In {rng.choice(words.MONTHS)} the {rng.choice(words.WORDS)} was {rng.choice(words.ADJECTIVE_OPPOSITES)}.",
        f"{rng.choice(words.NUMBER_WORDS).capitalize()} {rng.choice(words.ANIMALS)}s sat by the {rng.choice(words.WORDS)}.",
    ]
    return rng.choice(choices)


@functools.cache
def english_words(limit: int = ENGLISH_WORDS) -> tuple[str, ...]:
    """The `limit` most frequent English words of wordfreq's list (lower case, ASCII letters only; three letters or
    more, or two among the FUNCTION_WORDS most frequent: "on", "to", "us", not "tv", "uk")."""
    try:
        from wordfreq import top_n_list
    except ImportError as error:
        raise ImportError("the CTC corpus takes its English words from wordfreq: pip install 'lslm-eval[train]'") from error
    ranked = top_n_list("en", 5 * limit)
    found = [w for i, w in enumerate(ranked) if w.isascii() and w.isalpha() and (len(w) >= 3 or len(w) == 2 and i < FUNCTION_WORDS)]
    found = found[:limit]
    if len(found) < limit:
        raise ValueError(f"wordfreq lists only {len(found)} English words of three letters or more; asked for {limit}")
    return tuple(found)


def spelled(word: str, tokenizer) -> str:
    """`word` capitalized if the tokenizer spells " Word" in fewer tokens than " word" (a name), else as it is."""
    title = word[0].upper() + word[1:]
    return title if len(tokenizer.tokenize(" " + title)) < len(tokenizer.tokenize(" " + word)) else word


def word_runs(rng: random.Random, vocab: list[str]) -> Iterator[str]:
    """Sentences of 4-9 words dealt from `vocab`: each word once per pass, every pass in a new order."""
    while True:
        order = rng.sample(vocab, len(vocab))
        start = 0
        while start < len(order):
            run = order[start : start + rng.randint(4, 9)]
            start += len(run)
            yield run[0][0].upper() + run[0][1:] + "".join(" " + w for w in run[1:]) + rng.choice([".", "?", "."])


def ctc_texts(n: int, tokenizer, seed: int = 0) -> list[str]:
    """`n` distinct training sentences (questions, statements, then word runs), none an evaluation item."""
    excluded = evaluation_texts()
    rng = random.Random(seed)
    questions = make_instructions(min(QUESTIONS, 2 * n // 5), seed=seed, exclude=set(excluded))
    out, seen = [], set()

    def add(text: str) -> None:
        key = normalize(text)
        if key not in excluded and key not in seen:
            seen.add(key)
            out.append(text)

    for text in questions:
        add(text)
    n_statements = len(out) + min(STATEMENTS, n // 5)
    for _ in range(50 * n):
        if len(out) >= n_statements:
            break
        add(statements(rng))
    runs = word_runs(rng, [spelled(w, tokenizer) for w in english_words()])
    while len(out) < n:
        add(next(runs))
    return out
