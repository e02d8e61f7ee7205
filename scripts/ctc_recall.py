"""How much of a held-out spoken question a CTC-stage adaptor carries, read without the LLM (docs/offline-default.md).

    python scripts/ctc_recall.py CHECKPOINT [N] [--answer]

CHECKPOINT is a CTC-stage checkpoint (trainers/ctc.py: config.json's extra["ctc"] and ctc_state.pt). Each of the first
N (default 120) held-out sd-qa questions is embedded by the adaptor, every frame labelled greedily by the stage's own
distance head (blank or the nearest training token), repeats merged and blanks dropped (CTC's greedy decoding), and
the words of the question looked up in the decoded text. Prints the share of question words found, overall and by
how often the word occurs in the stage's training texts.

--answer also reads each decoded text to the checkpoint's LLM as the written question (a cascade whose ASR is the
stage's own head) and scores the answers as voicebench_sdqa does (pedant), beside the same LLM reading the true
questions: how much of the text score survives stage 1's hearing, before any LLM reads its frames.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

import torch

from lslm_eval.model import LSLM
from lslm_eval.trainers.ctc import STATE_FILE, CTCConfig, CTCHead
from lslm_eval.trainers.ctc_corpus import ctc_texts
from lslm_eval.trainers.heldout import heldout_spoken_questions

BINS = ((0, 0), (1, 4), (5, 19), (20, None))  # occurrences of a word in the training texts


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def greedy_decode(head: CTCHead, h: torch.Tensor) -> list[int]:
    """(T, d) frames -> LLM token ids: the best class per frame, repeats merged, blanks dropped."""
    best = head(h.float().unsqueeze(0))[0].argmax(-1).tolist()
    return [head.token_ids[c - 1] for i, c in enumerate(best) if c and (i == 0 or best[i - 1] != c)]


def main(path: str, n: int = 120, answer: bool = False) -> None:
    torch.set_num_threads(1)
    model = LSLM.from_pretrained(path, dtype="float32")
    config = CTCConfig.from_dict(model.config.extra["ctc"])
    texts = ctc_texts(config.texts, model.tokenizer, seed=config.seed, corpus=config.corpus)
    state = torch.load(f"{path}/{STATE_FILE}", weights_only=True)["head"]
    head = CTCHead(model.llm.get_input_embeddings().weight, state["vocab_ids"].tolist())  # the stage's own classes
    head.load_state_dict(state)
    counts = Counter(w for s in texts for w in words(s))
    wavs, questions, references = heldout_spoken_questions(n)
    found: dict[tuple, list[bool]] = {b: [] for b in BINS}
    decoded = []
    with torch.no_grad():
        for question, h in zip(questions, model.embed_speech(wavs)):
            decoded.append(model.tokenizer.decode(greedy_decode(head, h)).strip())
            heard = set(words(decoded[-1]))
            for w in words(question):
                k = counts[w]
                found[next(b for b in BINS if k >= b[0] and (b[1] is None or k <= b[1]))].append(w in heard)
    every = [x for v in found.values() for x in v]
    print(f"{path}: {sum(every) / len(every):.3f} of {len(every)} question words decoded ({n} held-out questions)")
    for (lo, hi), v in found.items():
        label = f"{lo}" if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}"
        print(f"  seen {label:>5} times in training: {sum(v) / max(1, len(v)):.3f} of {len(v)}")
    if answer:
        for name, read in (("decoded by the head", decoded), ("written", questions)):
            print(f"  answered from the {name} questions: {answer_score(model, read, questions, references):.2f} (pedant, %)")


def answer_score(model, read: list[str], questions: list[str], references: list[str], batch: int = 16) -> float:
    """The pedant score (%) of the LLM's greedy answers (32 tokens at most) to `read`, given as written questions."""
    from lslm_eval.prompt import AUDIO_PLACEHOLDER
    from lslm_eval.scoring.pedant import pedant_correct

    correct = 0
    with torch.no_grad():
        for i in range(0, len(read), batch):
            chunk = read[i : i + batch]
            replies = model.generate(model.collate(model.build_items([AUDIO_PLACEHOLDER] * len(chunk), None, chunk)), max_new_tokens=32)
            correct += sum(pedant_correct(r, reply, q) for r, reply, q in zip(references[i : i + batch], replies, questions[i : i + batch]))
    return 100 * correct / len(read)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--answer"]
    main(args[0], *(int(a) for a in args[1:2]), answer="--answer" in sys.argv)
