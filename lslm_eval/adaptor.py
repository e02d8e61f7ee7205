"""The adaptor: stack N consecutive encoder frames, then Linear -> activation -> Linear (SPEC §1)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


class Adaptor(nn.Module):
    """frames (B, T, d_enc) -> speech embeddings (B, ceil(T/N), d_llm).

    The last group is zero-padded to N frames, so no frame is dropped.
    """

    def __init__(self, encoder_dim: int, llm_dim: int, stack: int = 5, hidden_dim: int = 2048, activation: str = "gelu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.stack = stack
        self.proj_in = nn.Linear(encoder_dim * stack, hidden_dim)
        self.act = ACTIVATIONS[activation]()
        self.proj_out = nn.Linear(hidden_dim, llm_dim)

    @classmethod
    def from_config(cls, config) -> "Adaptor":
        """The adaptor an LSLMConfig (or any config with these fields) describes."""
        return cls(config.encoder_dim, config.llm_dim, config.stack, config.adaptor_hidden, config.activation)

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
