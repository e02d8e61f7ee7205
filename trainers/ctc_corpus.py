"""Training text for the CTC alignment stage: broad vocabulary, never an evaluation item.

Three kinds of sentence, in a fixed seeded mix:
    questions   the instruction templates (`make_instructions`), the form the adaptor must carry;
    statements  facts from the instruction word lists said as sentences ("The capital of Peru is Lima.");
    broad       sentences with a broad vocabulary, from one of two corpora (`CORPORA`):
                "runs"     4-9 words drawn from the LLM tokenizer's own whole-word tokens (the first VOCABULARY_WORDS
                           in id order: BPE merges the most frequent words first, so these are common English words
                           and names), so the acoustic-to-token map covers far more than the templates' words;
                "wordnet"  readable sentences, WordNet 3.0's glosses and examples (trainers/data/, made by
                           scripts/wordnet_sentences.py, checked by hash on load), drawn without replacement.
No sentence whose normalized form is an evaluation item (`evaluation_texts`: every prompt of the shipped VoiceBench
sample and of the held-out set, each MCQ prompt also line by line) is ever returned.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import random
import re
from pathlib import Path

from lslm_eval.trainers import instructions as words
from lslm_eval.trainers.instructions import make_instructions

VOCABULARY_WORDS = 5000
CORPORA = ("runs", "wordnet")
WORDNET_FILE = Path(__file__).resolve().parent / "data" / "wordnet_sentences.txt.gz"
WORDNET_SHA256 = "62121f1d71ab9fc4434e2f204aa5f2c7cb07ec822f42fb47c166f937ca36bc6b"  # of the uncompressed text
WORD_TOKEN = re.compile(r"^ [A-Za-z]{3,12}$")  # a whole word with its leading space, as BPE writes it


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


def vocabulary_words(tokenizer, limit: int = VOCABULARY_WORDS) -> list[str]:
    """The tokenizer's first `limit` whole-word tokens (leading space, 3-12 letters) in id order, without the space."""
    found: dict[str, None] = {}
    for token in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))):
        text = tokenizer.convert_tokens_to_string([token]) if token else ""
        if WORD_TOKEN.match(text):
            found.setdefault(text[1:])
            if len(found) == limit:
                break
    return list(found)


def check_corpus(corpus: str) -> None:
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; choose one of {list(CORPORA)}")


@functools.cache
def wordnet_sentences() -> tuple[str, ...]:
    """The shipped WordNet sentences, in file order; refused when the file is not the one made for this project."""
    data = gzip.decompress(WORDNET_FILE.read_bytes())
    digest = hashlib.sha256(data).hexdigest()
    if digest != WORDNET_SHA256:
        raise ValueError(f"{WORDNET_FILE}: sha256 {digest}, expected {WORDNET_SHA256} (rebuild it with "
                         "scripts/wordnet_sentences.py, or restore it from git)")
    return tuple(data.decode().splitlines())


def word_run(rng: random.Random, vocab: list[str]) -> str:
    run = rng.sample(vocab, rng.randint(4, 9))
    run[0] = run[0][0].upper() + run[0][1:]
    return " ".join(run) + rng.choice([".", "?", "."])


def ctc_texts(n: int, tokenizer, seed: int = 0, mix: tuple[float, float, float] = (0.4, 0.2, 0.4),
              corpus: str = "runs") -> list[str]:
    """`n` distinct training sentences (questions, statements, broad sentences from `corpus` in proportions `mix`),
    none an evaluation item; fewer only if the WordNet sentences run out."""
    check_corpus(corpus)
    excluded = evaluation_texts()
    rng = random.Random(seed)
    n_questions = int(n * mix[0])
    questions = make_instructions(n_questions, seed=seed, exclude=set(excluded))
    if corpus == "runs":
        vocab = vocabulary_words(tokenizer)
        broad = iter(lambda: word_run(rng, vocab), None)  # endless
    else:
        pool = wordnet_sentences()
        broad = (pool[i] for i in random.Random(seed).sample(range(len(pool)), len(pool)))  # each sentence once
    out, seen = [], set()
    for text in questions:
        key = normalize(text)
        if key not in excluded and key not in seen:
            seen.add(key)
            out.append(text)
    n_statements = int(n * mix[1])
    for _ in range(50 * n):
        if len(out) >= n:
            break
        text = statements(rng) if len(out) < len(questions) + n_statements else next(broad, None)
        if text is None:
            break
        key = normalize(text)
        if key not in excluded and key not in seen:
            seen.add(key)
            out.append(text)
    return out
