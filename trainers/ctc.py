"""CTC alignment stage: each adaptor output frame lands near the LLM's embedding of the word said there.

No LLM forward pass. The adaptor's frames h_t (d_llm) are scored against the rows e_v of the LLM's frozen
input-embedding matrix, restricted to the tokens the training text uses, plus one learned blank vector b:

    logit_t(v) = -||h_t - e_v||^2 / tau          (tau learned; the blank scored the same way against b)

and trained with CTC against the transcript's LLM token ids (tokenizer(text), no special tokens). A distance, not a
dot product, so a frame is pulled to the embedding itself, its norm included, and the LLM later reads it as that
token. The Whisper encoder is frozen, so every clip is spoken and encoded once (trainers/clips.py) and batches are
length-bucketed.

    python -m lslm_eval.trainers.ctc RECIPE.yaml [--key value ...] [--resume]

Checkpoints OUT/checkpoint-<step>/ are lslm-eval checkpoints (`lm_eval --model_args checkpoint=...`, or
`init_checkpoint` of the instruction stage) plus ctc_state.pt (blank, tau, optimizer, step) for --resume. The data
order is a function of (seed, epoch), so a resumed run repeats the uninterrupted one (the loop: trainers/stage.py).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lslm_eval.compress import CTCCompressor
from lslm_eval.trainers.clips import VOICES, build_cache, check_voices
from lslm_eval.trainers.ctc_corpus import check_corpus
from lslm_eval.trainers.stage import cpu_bf16, previous_checkpoint, run_stage

log = logging.getLogger(__name__)

STATE_FILE = "ctc_state.pt"


@dataclass
class CTCConfig:
    output_dir: str = "runs/ctc"
    cache_dir: str = "ctc-data"  # spoken texts + encoder frames, reused by every run with the same texts
    texts: int = 8000
    corpus: str = "runs"  # the broad 40% of the texts (trainers/ctc_corpus.py CORPORA): "runs" or "wordnet"
    seed: int = 0
    voices: list = field(default_factory=lambda: [list(v) for v in VOICES])  # [espeak-ng voice, words per minute]
    voices_per_text: int = 1  # each text spoken in this many voices of the rotation (clips = texts x voices_per_text)
    # model (as the instruction stage's TrainConfig)
    encoder: str = "tiny.en-offline"
    llm: str = "offline:SmolLM2-135M-Instruct"
    gguf_file: str | None = None
    stack: int = 5
    adaptor_hidden: int = 1024
    activation: str = "gelu"
    system_prompt: str | None = None
    # optimisation
    lr: float = 2e-3
    warmup_steps: int = 100
    max_steps: int = 1500
    batch_size: int = 32
    negatives: int = 1024  # sampled softmax: tokens drawn per batch besides its own (0: every token of the corpus)
    dropout: float = 0.0  # of the cached encoder frames' values, while training (they are few: it curbs overfitting)
    max_grad_norm: float = 1.0
    bf16: bool | str = False  # autocast the adaptor and the distance logits (CPU bfloat16; auto: where native); diverged past ~3 epochs
    save_every: int = 500
    log_every: int = 20

    def __post_init__(self):
        for option in fields(self):
            value = getattr(self, option.name)
            if option.type == "float" and isinstance(value, (str, int)) and not isinstance(value, bool):
                setattr(self, option.name, float(value))
        if min(self.texts, self.max_steps, self.batch_size, self.save_every, self.log_every) < 1:
            raise ValueError("texts, max_steps, batch_size, save_every and log_every must be at least 1")
        check_voices(self.voices, self.voices_per_text)
        check_corpus(self.corpus)
        self.bf16 = cpu_bf16(self.bf16)

    @classmethod
    def from_dict(cls, data: dict) -> "CTCConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown CTC options {unknown}; known: {sorted(known)}")
        return cls(**data)


class CTCHead(CTCCompressor):
    """The CTCCompressor while it trains: distance logits of adaptor frames over (blank, the used tokens' frozen
    embeddings), the vocabulary rows cached; its state (blank, log_tau, vocab_ids) is the compressor's."""

    def __init__(self, embeddings: Tensor, token_ids: list[int], init: bool = True):
        super().__init__(embeddings.shape[1], len(token_ids))
        self.vocab_ids.copy_(torch.tensor(token_ids, dtype=torch.long))
        if init:
            self.init_from(embeddings, token_ids)
        self.register_buffer("vocab", embeddings[self.vocab_ids].detach().float(), persistent=False)  # (V', d)
        self.token_ids = list(token_ids)
        self.index = {tid: i + 1 for i, tid in enumerate(token_ids)}  # class 0 is the blank

    def forward(self, h: Tensor, classes: Tensor | None = None) -> Tensor:
        """h (B, T, d) -> log-probabilities (B, T, 1 + V') over (blank, the tokens), or (B, T, 1 + len(classes))
        over (blank, the tokens at positions `classes` of token_ids) when given (sampled negatives)."""
        return self.log_probs(h, self.vocab if classes is None else self.vocab[classes])


def fits_ctc(ids: list[int], n_frames: int, stack: int) -> bool:
    """Whether a clip trains the CTC loss: some tokens, and at most 0.8 of them per adaptor frame (room for blanks)."""
    return 0 < len(ids) <= 0.8 * math.ceil(n_frames / stack)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The CTC loss's own draws (sampled negatives, frame dropout) at one step: a function of (seed, step)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def ctc_loss(adaptor: nn.Module, head: CTCHead, frames: list[Tensor], targets: list[list[int]], bf16: bool,
             negatives: int = 0, generator: torch.Generator | None = None, dropout: float = 0.0) -> Tensor:
    """Mean CTC loss per target token of one batch. frames: (T_i, d_enc) each; targets: LLM token ids each.

    negatives > 0: the softmax runs over the batch's own tokens plus that many other tokens drawn at random
    (sampled softmax: the same gradient in expectation up to the normaliser's estimate, a fraction of the cost).
    dropout > 0: each encoder-frame value is zeroed with that probability (the rest scaled up), drawn from `generator`."""
    lengths = [f.shape[0] for f in frames]
    index = head.index
    classes = None
    if negatives:
        used = sorted({index[t] - 1 for ids in targets for t in ids})
        drawn = torch.randperm(len(head.vocab), generator=generator)[: negatives + len(used)].tolist()
        in_batch = set(used)
        classes_list = used + [c for c in drawn if c not in in_batch][:negatives]
        index = {head.token_ids[c]: i + 1 for i, c in enumerate(classes_list)}
        classes = torch.tensor(classes_list)
    padded = torch.zeros(len(frames), max(lengths), frames[0].shape[1])
    for i, f in enumerate(frames):
        padded[i, : f.shape[0]] = f.float()
    if dropout:
        padded = padded * (torch.rand(padded.shape, generator=generator) >= dropout) / (1 - dropout)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logp = head(adaptor(padded), classes)  # (B, T', C)
    out_lengths = torch.tensor([math.ceil(n / adaptor.stack) for n in lengths])
    flat = torch.tensor([index[t] for ids in targets for t in ids])
    target_lengths = torch.tensor([len(ids) for ids in targets])
    loss = F.ctc_loss(logp.transpose(0, 1), flat, out_lengths, target_lengths, blank=0, reduction="sum", zero_infinity=True)
    return loss / target_lengths.sum()


def train(config: CTCConfig, resume: bool = False) -> Path:
    """Run the stage to max_steps; returns the last checkpoint."""
    from lslm_eval.model import LSLM, LSLMConfig

    previous = previous_checkpoint(config, STATE_FILE, resume)
    model_config = LSLMConfig(encoder=config.encoder, llm=config.llm, gguf_file=config.gguf_file, stack=config.stack,
                              adaptor_hidden=config.adaptor_hidden, activation=config.activation,
                              system_prompt=config.system_prompt)
    lslm = LSLM.build(model_config, device="cpu", dtype="float32", seed=config.seed)
    lslm.requires_grad_(False)
    texts, frames = build_cache(config, lslm)
    targets = [lslm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    keep = [i for i in range(len(texts)) if fits_ctc(targets[i], frames[i].shape[0], config.stack)]
    if len(keep) < len(texts):
        log.warning("%d of %d clips are too short for their token count and are left out", len(texts) - len(keep), len(texts))
    token_ids = sorted({t for i in keep for t in targets[i]})
    log.info("%d clips, %d distinct target tokens", len(keep), len(token_ids))
    head = CTCHead(lslm.llm.get_input_embeddings().weight, token_ids)

    def batch_loss(batch: list[int], step: int) -> dict:
        clips = [keep[j] for j in batch]
        generator = step_generator(config.seed, step)
        loss = ctc_loss(lslm.adaptor, head, [frames[i] for i in clips], [targets[i] for i in clips], config.bf16,
                        config.negatives, generator, config.dropout)
        return {"loss": loss, "tau": head.log_tau.exp().item()}

    return run_stage(config, "ctc", lslm, [frames[i].shape[0] for i in keep], batch_loss, STATE_FILE, previous,
                     modules={"head": head})


def main(argv=None) -> None:
    from lslm_eval.trainers.config import stage_main

    stage_main("CTC alignment stage of the adaptor (no LLM forward pass)", CTCConfig, train, argv)


if __name__ == "__main__":
    main()
