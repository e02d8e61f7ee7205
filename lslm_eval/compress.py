"""CTC compression: the LLM reads one speech embedding per token said (Speech-LLaMA, Wu et al. 2023, arXiv:2307.03917).

The adaptor's frames h_t (d_llm) are classified by squared distance to a vocabulary of the LLM's own frozen token
embeddings plus one learned blank vector -- the CTC stage's head (trainers/ctc.py), kept with the adaptor:

    logit_t(v) = -||h_t - e_v||^2 / tau

The greedy CTC path (the nearest class of each frame) decides which frames go together: frames whose class is the
blank are dropped, and each run of consecutive frames sharing one token class becomes the mean of those frames. The
rows stay the adaptor's own continuous vectors (not the token embeddings), so the LLM still reads speech, and the
gradient reaches every kept frame; only the decision of where runs start and end has none.

With rows="posterior" (LegoSLM, Ma et al. 2025, arXiv:2505.11352) a run's row is instead the mean over its frames
of the vocabulary embedding each frame expects, sum_v p_t(v) e_v with the blank's share left out (p renormalised
over the tokens): the LLM reads mixtures of its own input embeddings, near the text of what was said where the head
is sure and spread where it is not, and the gradient reaches every kept frame through the posterior.

Invariant: the compressed sequence has one row per non-blank run of the greedy path, in order of time; a clip whose
every frame is blank keeps one row, the mean of all its frames' rows, so no clip is ever empty.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BLANK = 0  # class 0 is the blank; class i + 1 is the token vocab_ids[i]
ROWS = ("frames", "posterior")  # what a run's row averages: the adaptor's frames, or their expected token embeddings


def greedy_runs(best: list[int]) -> list[tuple[int, int, int]]:
    """The non-blank runs of a greedy CTC path: (class, start, end) with frames [start, end) all of that class."""
    runs, start = [], 0
    for t in range(1, len(best) + 1):
        if t == len(best) or best[t] != best[start]:
            if best[start] != BLANK:
                runs.append((best[start], start, t))
            start = t
    return runs


class CTCCompressor(nn.Module):
    """Distance classes of adaptor frames over (blank, vocab_ids' embeddings); forward averages each greedy run."""

    def __init__(self, dim: int, n_tokens: int, rows: str = "frames"):
        super().__init__()
        if rows not in ROWS:
            raise ValueError(f"ctc_rows is one of {ROWS}; got {rows!r}")
        self.rows = rows
        self.blank = nn.Parameter(torch.zeros(dim))
        self.log_tau = nn.Parameter(torch.zeros(()))
        self.register_buffer("vocab_ids", torch.zeros(n_tokens, dtype=torch.long))  # which LLM tokens are classes

    def init_from(self, embeddings: Tensor, token_ids: list[int]) -> "CTCCompressor":
        """The CTC stage's starting point: the blank at the mean embedding; tau an eighth of the mean squared norm of
        the vocabulary, so a frame on an embedding outscores the others by about 16 nats (two embeddings lie about
        twice the squared norm apart)."""
        with torch.no_grad():
            self.vocab_ids.copy_(torch.tensor(token_ids, dtype=torch.long))
            vocab = embeddings[self.vocab_ids].detach().float()
            self.blank.copy_(embeddings.detach().float().mean(0))
            self.log_tau.fill_(math.log(vocab.pow(2).sum(-1).mean().item() / 8))
        return self

    def table(self, vocab: Tensor) -> Tensor:
        """(1 + V, d): the blank, then the rows of vocab."""
        return torch.cat([self.blank.unsqueeze(0).to(vocab.dtype), vocab], 0)

    def log_probs(self, h: Tensor, vocab: Tensor) -> Tensor:
        """h (..., T, d), vocab (V, d) the class embeddings -> log-probabilities (..., T, 1 + V) over (blank, vocab)."""
        table = self.table(vocab).to(h.dtype)
        dist = h.pow(2).sum(-1, keepdim=True) - 2 * h @ table.T + table.pow(2).sum(-1)
        return F.log_softmax(-dist.float() / self.log_tau.exp(), dim=-1)

    def class_table(self, embeddings: Tensor, device) -> Tensor:
        """(1 + V, d) float32 on `device`: the blank and the vocabulary rows of `embeddings`, gathered once and kept
        until the embeddings, the blank or the vocabulary change (every clip of every batch reads the same table)."""
        key = (embeddings.data_ptr(), embeddings._version, self.blank._version, self.vocab_ids._version, str(device))
        cached = self.__dict__.get("_class_table")
        if cached is None or cached[0] != key:
            with torch.no_grad():
                table = self.table(embeddings[self.vocab_ids].float()).to(device)
            self.__dict__["_class_table"] = cached = (key, table)
        return cached[1]

    @staticmethod
    def scores(h: Tensor, table: Tensor) -> Tensor:
        """(T, 1 + V): -||h - e_c||^2 + ||h||^2 per class c of `table` (||h||^2 is the same for every class of a frame,
        so it is left out); divided by tau these are the head's logits, and their argmax is the nearest class."""
        return 2 * h.float() @ table.T - table.pow(2).sum(-1)

    def classes(self, h: Tensor, embeddings: Tensor) -> list[int]:
        """The greedy path of h (T, d): each frame's nearest class (tau does not change an argmax)."""
        with torch.no_grad():
            return self.scores(h.detach(), self.class_table(embeddings, h.device)).argmax(-1).tolist()

    def forward(self, h: Tensor, embeddings: Tensor) -> Tensor:
        """h (T, d) one clip's adaptor frames, embeddings the LLM's input-embedding matrix -> (K, d), K runs."""
        if self.rows == "frames":
            runs, rows = greedy_runs(self.classes(h, embeddings)), h
        else:  # one distance pass gives both the path and each frame's expected token embedding (blank left out)
            table = self.class_table(embeddings, h.device)
            scores = self.scores(h, table)
            runs = greedy_runs(scores.detach().argmax(-1).tolist())
            rows = (torch.softmax(scores[:, 1:] / self.log_tau.exp(), -1) @ table[1:]).to(h.dtype)
        if not runs:
            return rows.mean(0, keepdim=True)
        return torch.stack([rows[start:end].mean(0) for _, start, end in runs])
