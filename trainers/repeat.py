"""The transcript stage: the LLM itself teaches the adaptor to carry every word said, on cached encoder frames.

Each training clip (the CTC stage's spoken sentences and their cached frames, `trainers.clips.build_cache`) serves one
of two tasks, drawn per example (questions: either, by `answer_fraction`; the other sentences: repeat):

    repeat   user turn "<audio>\\nRepeat exactly what was said."  ->  the transcript, then end of turn
    answer   user turn "<audio>" (the evaluation's form)           ->  the LLM's own greedy answer to the transcript

Both are trained by cross-entropy on the response tokens; the answers also by `distill_weight` times the KL
divergence from the text twin's distribution at each answer token (the same user turn with the transcript in place
of the speech, the frozen LLM reading it: ultravox's objective). With `ctc_weight` > 0 the CTC stage's own loss on
every clip (its head frozen, read from init_checkpoint) is added with that weight, so the frames keep the CTC
geometry (each on the embedding of the token said there) while the LLM teaches what it reads. With `compress` the
same frozen head joins the adaptor as its CTC compressor (lslm_eval.compress): the LLM reads, and is trained on, one
averaged embedding per token said, and the checkpoints carry the compressor. The repeat task gives every word of the clip a target, so the
frames must carry content, not only form; the answer task keeps the evaluation's form answering, not repeating.
The LLM is frozen: only the adaptor trains, so the text twin is the same model at every checkpoint.

The answers are generated once (batched greedy decoding from the text prompt, cut at the first sentence) and
cached beside the frames (`answers.jsonl`, keyed by the system prompt and token limit).

    python -m lslm_eval.trainers.repeat RECIPE.yaml [--key value ...] [--resume]

Checkpoints OUT/checkpoint-<step>/ are lslm-eval checkpoints plus repeat_state.pt (optimizer, scheduler, step) for
--resume. The data order and the task of each example are functions of (seed, step), so a resumed run repeats the
uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from lslm_eval.compress import ROWS
from lslm_eval.prompt import AUDIO_PLACEHOLDER, predicts_response
from lslm_eval.trainers.clips import VOICES, build_cache, check_voices
from lslm_eval.trainers.ctc_corpus import check_corpus
from lslm_eval.trainers.stage import cpu_bf16, previous_checkpoint, run_stage

log = logging.getLogger(__name__)

ANSWERS_FILE = "answers.jsonl"  # {"system_prompt", "max_tokens"} header line, then {"text", "answer"} per clip
STATE_FILE = "repeat_state.pt"
REPEAT_TURN = AUDIO_PLACEHOLDER + "\nRepeat exactly what was said."
SENTENCE_ENDS = (". ", "! ", "? ", "\n")  # the teacher's answer is its first sentence


@dataclass
class RepeatConfig:
    init_checkpoint: str = "runs/offline-ctc/checkpoint-2250"  # the CTC stage's adaptor (trainers/recipes/offline_ctc.yaml)
    output_dir: str = "runs/offline-repeat"
    cache_dir: str = "ctc-data"  # the CTC stage's cache: the same texts, voices and frames
    texts: int = 8000
    corpus: str = "runs"  # the broad 40% of the texts (trainers/ctc_corpus.py CORPORA): "runs" or "wordnet"
    seed: int = 0
    voices: list = field(default_factory=lambda: [list(v) for v in VOICES])
    voices_per_text: int = 1  # as the CTC stage: clip c speaks text c % texts
    repeat_turn: str = REPEAT_TURN
    answer_texts: int = 3200  # the first N texts (the CTC corpus's questions) may take the answer task; the rest repeat
    answer_fraction: float = 0.6  # share of those N given the answer task at each draw
    answer_tokens: int = 32  # the cached answers' token limit before the first-sentence cut
    distill_weight: float = 1.0
    ctc_weight: float = 0.0  # > 0: keep the CTC stage's loss (its head, frozen, from init_checkpoint) as a term
    ctc_negatives: int = 1024  # the CTC term's sampled softmax, as the CTC stage's `negatives`
    compress: bool = False  # CTC compression (lslm_eval.compress): the CTC stage's head, frozen, joins the adaptor
    compress_rows: str = "frames"  # with compress: a run's row averages its "frames" or their "posterior" token embeddings
    lr: float = 1e-3
    warmup_steps: int = 20
    max_steps: int = 840
    batch_size: int = 16
    max_grad_norm: float = 1.0
    bf16: bool | str = "auto"  # autocast the LLM forward and backward (CPU bfloat16; auto: where the CPU has it natively)
    save_every: int = 140
    log_every: int = 10

    def __post_init__(self):
        for option in fields(self):
            value = getattr(self, option.name)
            if option.type == "float" and isinstance(value, (str, int)) and not isinstance(value, bool):
                setattr(self, option.name, float(value))
        if min(self.texts, self.max_steps, self.batch_size, self.save_every, self.log_every, self.answer_tokens) < 1:
            raise ValueError("texts, max_steps, batch_size, save_every, log_every and answer_tokens must be at least 1")
        check_voices(self.voices, self.voices_per_text)
        check_corpus(self.corpus)
        if self.compress_rows not in ROWS:
            raise ValueError(f"compress_rows is one of {ROWS}; got {self.compress_rows!r}")
        self.bf16 = cpu_bf16(self.bf16)
        if not 0.0 <= self.answer_fraction <= 1.0:
            raise ValueError(f"answer_fraction is a share in [0, 1]; got {self.answer_fraction}")
        if self.repeat_turn.count(AUDIO_PLACEHOLDER) != 1:
            raise ValueError(f"repeat_turn must hold {AUDIO_PLACEHOLDER} exactly once; got {self.repeat_turn!r}")

    @classmethod
    def from_dict(cls, data: dict) -> "RepeatConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown repeat-stage options {unknown}; known: {sorted(known)}")
        return cls(**data)


def first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip(), re.S)
    return (match.group(1) if match else text).strip()


def teacher_answers(lslm, texts: list[str], cache_dir: Path, max_tokens: int, batch_size: int = 32) -> list[str]:
    """The LLM's greedy first-sentence answer to each written text (the evaluation's prompt, the checkpoint's system
    prompt), generated once and cached in cache_dir/answers.jsonl. Decoding stops at the end of the first sentence."""
    file = cache_dir / ANSWERS_FILE
    header = {"system_prompt": lslm.config.system_prompt, "max_tokens": max_tokens}
    if file.is_file():
        lines = file.read_text().splitlines()
        rows = [json.loads(line) for line in lines[1:]]
        if lines and json.loads(lines[0]) == header and [r["text"] for r in rows] == texts:
            return [r["answer"] for r in rows]
        log.warning("%s was made for other texts or settings; generating again", file)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
    by_index = {}
    for start in tqdm(range(0, len(order), batch_size), desc="teacher answers"):
        chunk = order[start : start + batch_size]
        items = lslm.build_items([AUDIO_PLACEHOLDER] * len(chunk), None, [texts[i] for i in chunk])
        with torch.no_grad():
            outputs = lslm.generate(lslm.collate(items), max_new_tokens=max_tokens, stop=SENTENCE_ENDS)
        by_index.update({i: first_sentence(o) or "." for i, o in zip(chunk, outputs)})
    answers = [by_index[i] for i in range(len(texts))]
    file.write_text(json.dumps(header) + "\n" + "".join(json.dumps({"text": t, "answer": a}) + "\n" for t, a in zip(texts, answers)))
    return answers


class RepeatObjective:
    """The loss of one batch: (loss, cross_entropy, kl), cross-entropy over the response tokens of both tasks, the KL
    over the answer rows' (the repeat rows' twin only copies its input, so its distribution adds nothing to the
    target)."""

    def __init__(self, lslm, config: RepeatConfig):
        self.lslm, self.config = lslm, config
        self.eos = lslm.tokenizer.eos_token_id

    def items(self, speech, turns, texts, responses):
        items = self.lslm.build_items(turns, speech, texts)
        for item, response in zip(items, responses):
            item.response_ids = self.lslm.tokenizer(response, add_special_tokens=False)["input_ids"] + [self.eos]
        return items

    def __call__(self, frames, texts, answers, repeat: list[bool]):
        lslm, config = self.lslm, self.config
        turns = [config.repeat_turn if r else AUDIO_PLACEHOLDER for r in repeat]
        responses = [t if r else a for t, a, r in zip(texts, answers, repeat)]
        answer_rows = [i for i, r in enumerate(repeat) if not r]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
            batch = lslm.collate(self.items([f.float() for f in frames], turns, texts, responses), padding_side="right")
            logits, targets = lslm.response_logits(batch)
            logits = logits.float()
            ce = F.cross_entropy(logits, targets)
            if not config.distill_weight or not answer_rows:
                return ce, ce.detach(), torch.zeros(())
            with torch.no_grad():
                pick = lambda xs: [xs[i] for i in answer_rows]  # noqa: E731
                twin = lslm.collate(self.items([None] * len(answer_rows), pick(turns), pick(texts), pick(responses)), padding_side="right")
                teacher = lslm.response_logits(twin)[0].float()
        response_rows = predicts_response(batch.labels).sum(1)  # each row's response tokens, in the logits' order
        answer = torch.repeat_interleave(torch.tensor([not r for r in repeat], device=logits.device), response_rows)
        kl = F.kl_div(F.log_softmax(logits[answer], -1), F.log_softmax(teacher, -1), log_target=True, reduction="batchmean")
        return ce + config.distill_weight * kl, ce.detach(), kl.detach()


def ctc_state(lslm, checkpoint: str, needed_by: str) -> dict:
    """The CTC stage's head state (blank, log_tau, vocab_ids): the adaptor's own compressor's if it has one, else the
    one saved in the CTC stage's checkpoint (ctc_state.pt)."""
    from lslm_eval.trainers.ctc import STATE_FILE as CTC_STATE

    if lslm.adaptor.compressor is not None:
        return lslm.adaptor.compressor.state_dict()
    file = Path(checkpoint) / CTC_STATE
    if not file.is_file():
        raise ValueError(f"{needed_by} needs the CTC stage's head: {file} not found "
                         "(init_checkpoint must be a checkpoint of trainers/ctc.py)")
    return torch.load(file, weights_only=True)["head"]


def ctc_head(lslm, checkpoint: str, needed_by: str):
    """The CTC stage's head, frozen, as that stage trained it (CTCHead: log-probabilities over its classes)."""
    from lslm_eval.trainers.ctc import CTCHead

    state = ctc_state(lslm, checkpoint, needed_by)
    head = CTCHead(lslm.llm.get_input_embeddings().weight, state["vocab_ids"].tolist(), init=False)
    head.load_state_dict(state)
    return head.requires_grad_(False)


def attach_compressor(lslm, config: RepeatConfig) -> None:
    """Give the adaptor the CTC stage's head as its compressor (frozen; saved with the adaptor, named in config)."""
    from lslm_eval.compress import CTCCompressor

    state = ctc_state(lslm, config.init_checkpoint, "compress: true")
    compressor = CTCCompressor(state["blank"].shape[0], len(state["vocab_ids"]), config.compress_rows)
    compressor.load_state_dict(state)
    lslm.adaptor.compressor = compressor.requires_grad_(False)
    lslm.config.ctc_tokens, lslm.config.ctc_rows = len(state["vocab_ids"]), config.compress_rows


class CTCTerm:
    """The CTC stage's loss on a batch's clips, its head (blank, tau, vocabulary) frozen as init_checkpoint left it;
    clips the stage left out (a token outside its vocabulary, too many tokens for the frames) are left out here."""

    def __init__(self, lslm, config: RepeatConfig, texts: list[str], frames: list):
        from lslm_eval.trainers.ctc import fits_ctc

        self.head = ctc_head(lslm, config.init_checkpoint, f"ctc_weight {config.ctc_weight}")
        self.lslm, self.config, self.frames = lslm, config, frames
        self.targets = [lslm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        self.usable = [fits_ctc(ids, f.shape[0], lslm.adaptor.stack) and all(t in self.head.index for t in ids)
                       for ids, f in zip(self.targets, frames)]

    def __call__(self, batch: list[int], step: int):
        from lslm_eval.trainers.ctc import ctc_loss, step_generator

        clips = [i for i in batch if self.usable[i]]
        if not clips:
            return torch.zeros(())
        return ctc_loss(self.lslm.adaptor, self.head, [self.frames[i] for i in clips], [self.targets[i] for i in clips],
                        False, self.config.ctc_negatives, step_generator(self.config.seed, step))


def train(config: RepeatConfig, resume: bool = False) -> Path:
    """Run the stage to max_steps; returns the last checkpoint."""
    from lslm_eval.model import LSLM

    previous = previous_checkpoint(config, STATE_FILE, resume)
    lslm = LSLM.from_pretrained(config.init_checkpoint, dtype="float32")
    lslm.requires_grad_(False)
    lslm.llm.eval()
    if config.compress:
        attach_compressor(lslm, config)
    texts, frames = build_cache(config, lslm)  # one per clip; the first n are the n distinct texts
    n = len(texts) // config.voices_per_text
    n_answer = min(config.answer_texts, n)
    per_text = teacher_answers(lslm, texts[:n_answer], Path(config.cache_dir), config.answer_tokens) + [None] * (n - n_answer)
    answers = [per_text[c % n] for c in range(len(texts))]
    objective = RepeatObjective(lslm, config)
    ctc_term = CTCTerm(lslm, config, texts, frames) if config.ctc_weight else None

    def batch_loss(batch: list[int], step: int) -> dict:
        draw = np.random.default_rng([config.seed, step]).random(len(batch))
        repeat = [answers[i] is None or u >= config.answer_fraction for i, u in zip(batch, draw)]
        loss, ce, kl = objective([frames[i] for i in batch], [texts[i] for i in batch], [answers[i] for i in batch], repeat)
        if ctc_term is None:
            return {"loss": loss, "cross_entropy": ce, "kl": kl}
        ctc = ctc_term(batch, step)
        return {"loss": loss + config.ctc_weight * ctc, "cross_entropy": ce, "kl": kl, "ctc": ctc.detach()}

    return run_stage(config, "repeat", lslm, [f.shape[0] for f in frames], batch_loss, STATE_FILE, previous)


def main(argv=None) -> None:
    from lslm_eval.trainers.config import stage_main

    stage_main("transcript stage of the adaptor: repeat what was said + self-distilled answers", RepeatConfig, train, argv)


if __name__ == "__main__":
    main()
