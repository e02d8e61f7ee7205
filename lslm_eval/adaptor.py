"""The adaptor: stack N consecutive encoder frames, then Linear -> activation -> Linear (SPEC §1); optionally followed
by CTC compression to one embedding per token said (lslm_eval.compress)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .compress import CTCCompressor

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


class Adaptor(nn.Module):
    """frames (B, T, d_enc) -> speech embeddings (B, ceil(T/N), d_llm).

    The last group is zero-padded to N frames, so no frame is dropped. With ctc_tokens > 0 the adaptor also holds a
    CTCCompressor over that many token classes; `compress` applies it (forward never does, so training losses on the
    frames themselves, as the CTC stage's, see every frame).
    """

    def __init__(self, encoder_dim: int, llm_dim: int, stack: int = 5, hidden_dim: int = 2048, activation: str = "gelu",
                 ctc_tokens: int = 0, ctc_rows: str = "frames"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.stack = stack
        self.proj_in = nn.Linear(encoder_dim * stack, hidden_dim)
        self.act = ACTIVATIONS[activation]()
        self.proj_out = nn.Linear(hidden_dim, llm_dim)
        self.compressor = CTCCompressor(llm_dim, ctc_tokens, ctc_rows) if ctc_tokens else None

    @classmethod
    def from_config(cls, config) -> "Adaptor":
        """The adaptor an LSLMConfig (or any config with these fields) describes."""
        return cls(config.encoder_dim, config.llm_dim, config.stack, config.adaptor_hidden, config.activation,
                   getattr(config, "ctc_tokens", 0), getattr(config, "ctc_rows", "frames"))

    @staticmethod
    def n_tokens(n_frames: int, stack: int) -> int:
        return math.ceil(n_frames / stack)

    def forward(self, frames: Tensor) -> Tensor:
        batch, n_frames, dim = frames.shape
        pad = -n_frames % self.stack
        if pad:
            frames = torch.cat([frames, frames.new_zeros(batch, pad, dim)], dim=1)
        stacked = frames.reshape(batch, (n_frames + pad) // self.stack, dim * self.stack)
        return self.proj_out(self.act(self.proj_in(stacked)))

    def compress(self, embeddings: Tensor, token_embeddings: Tensor) -> Tensor:
        """One clip's speech embeddings (T', d_llm) -> one row per token said (unchanged without a compressor)."""
        return embeddings if self.compressor is None else self.compressor(embeddings, token_embeddings)
