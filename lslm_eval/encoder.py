"""Whisper encoder at the speech's own length (no 30 s padding by default).

Whisper's encoder was trained on 30 s windows (3,000 mel frames -> 1,500 encoder frames, 50 per
second). Here a clip is encoded at its real length: the mel spectrogram is cut to the audio, and
the sinusoidal position table is sliced to the frames present. `padded=True` restores the original
30 s window (then the frames of the padding are dropped afterwards, so spans never contain them).

Audio longer than 30 s is split into consecutive 30 s chunks that are encoded independently and
concatenated in time: every chunk sees positions 0..1499 exactly as in training.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .audio import SAMPLE_RATE

CHUNK_SECONDS = 30
CHUNK_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE  # 480,000
HOP_LENGTH = 160  # samples per mel frame (10 ms)
SAMPLES_PER_FRAME = 2 * HOP_LENGTH  # the second convolution has stride 2: 20 ms per encoder frame
MIN_SAMPLES = SAMPLES_PER_FRAME  # shorter clips give no encoder frame


def n_encoder_frames(n_samples: int) -> int:
    """Number of encoder frames for a clip of `n_samples` at 16 kHz (variable-length mode)."""
    full, rest = divmod(n_samples, CHUNK_SAMPLES)
    last_mel = rest // HOP_LENGTH
    return full * (CHUNK_SAMPLES // SAMPLES_PER_FRAME) + (last_mel + 1) // 2


class SpeechEncoder(nn.Module):
    """Wraps `whisper.model.AudioEncoder`: waveform (n,) float32 16 kHz -> frames (T, d).

    The weights stay float32; `compute_dtype` (e.g. bfloat16 on a GPU) is the dtype of the
    activations: whisper's layers cast their weights to it and run LayerNorm in float32, as
    openai-whisper's own fp16 decoding does.
    """

    def __init__(self, encoder: nn.Module, n_mels: int, padded: bool = False, compute_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.encoder = encoder
        self.n_mels = n_mels
        self.padded = padded
        self.compute_dtype = compute_dtype

    @property
    def dim(self) -> int:
        return self.encoder.ln_post.normalized_shape[0]

    @property
    def device(self) -> torch.device:
        return self.encoder.conv1.weight.device

    def forward(self, wav: Tensor | np.ndarray) -> Tensor:
        """wav: (n,) float32 at 16 kHz -> (T, d) with T = n_encoder_frames(n)."""
        return torch.cat([self._encode_chunk(chunk) for chunk in self._chunks(wav)], dim=0)

    def _chunks(self, wav: Tensor | np.ndarray) -> list[Tensor]:
        wav = torch.as_tensor(wav, dtype=torch.float32)
        if wav.ndim != 1:
            raise ValueError(f"expected a mono waveform of shape (n,), got {tuple(wav.shape)}")
        if wav.numel() < MIN_SAMPLES:
            raise ValueError(f"audio too short: {wav.numel()} samples; at least {MIN_SAMPLES} (20 ms at 16 kHz) are needed")
        chunks = [wav[i : i + CHUNK_SAMPLES] for i in range(0, wav.numel(), CHUNK_SAMPLES)]
        if len(chunks) > 1 and chunks[-1].numel() < MIN_SAMPLES:
            chunks = chunks[:-1]  # a tail shorter than one frame carries nothing
        return chunks

    def encode_batch(self, wavs: list[Tensor | np.ndarray], batch_size: int = 16) -> list[Tensor]:
        """Several clips -> the frames `forward` gives each, encoded `batch_size` chunks at a time.

        Chunks of different lengths share a batch exactly: each chunk's mel is computed alone (its
        normalisation is per clip), padded with zeros on the right, the first convolution's outputs
        at padded positions are zeroed (so the second convolution sees the zeros a lone chunk's
        padding gives), and attention masks the padded frames as keys. Only the chunk's own frames
        are returned, equal to its unbatched frames up to floating-point summation order.
        """
        from whisper.audio import log_mel_spectrogram, pad_or_trim

        chunks = [(clip, chunk) for clip, wav in enumerate(wavs) for chunk in self._chunks(wav)]
        mels, kept = [], []
        for _, chunk in chunks:
            audio = pad_or_trim(chunk, CHUNK_SAMPLES) if self.padded else chunk
            mels.append(log_mel_spectrogram(audio.to(self.device), self.n_mels))
            kept.append((chunk.numel() // HOP_LENGTH + 1) // 2)
        order = sorted(range(len(chunks)), key=lambda i: -mels[i].shape[1])  # similar lengths together
        frames: list[Tensor | None] = [None] * len(chunks)
        for start in range(0, len(order), batch_size):
            group = order[start : start + batch_size]
            for i, out in zip(group, self._encode_mels([mels[i] for i in group])):
                frames[i] = out[: kept[i]]
        per_clip: list[list[Tensor]] = [[] for _ in wavs]
        for (clip, _), out in zip(chunks, frames):
            per_clip[clip].append(out)
        return [torch.cat(parts, dim=0) for parts in per_clip]

    def _encode_mels(self, mels: list[Tensor]) -> list[Tensor]:
        """mels: (n_mels, n_i) each -> (ceil(n_i / 2), d) each, in one padded, masked batch."""
        lengths = torch.tensor([m.shape[1] for m in mels], device=self.device)
        width = int(lengths.max())
        if bool((lengths == width).all()):  # nothing to mask: the unbatched code path, batched
            out = self._encode_mel(torch.stack(mels).to(self.compute_dtype))
            return list(out)
        x = torch.zeros(len(mels), mels[0].shape[0], width, device=self.device)
        for b, mel in enumerate(mels):
            x[b, :, : mel.shape[1]] = mel
        enc = self.encoder
        x = nn.functional.gelu(enc.conv1(x.to(self.compute_dtype)))
        x = x * (torch.arange(width, device=self.device) < lengths[:, None])[:, None, :].to(x.dtype)
        x = nn.functional.gelu(enc.conv2(x)).permute(0, 2, 1)
        x = (x + enc.positional_embedding[: x.shape[1]]).to(x.dtype)
        frames = (lengths + 1) // 2
        keys = (torch.arange(x.shape[1], device=self.device) < frames[:, None])[:, None, None, :]  # (B, 1, 1, T)
        for block in enc.blocks:
            x = _masked_block(block, x, keys)
        x = enc.ln_post(x)
        return [x[b, : int(frames[b])] for b in range(len(mels))]

    def _encode_chunk(self, chunk: Tensor) -> Tensor:
        """chunk: (n,), n <= 30 s -> (ceil(n_mel / 2), d)."""
        from whisper.audio import log_mel_spectrogram, pad_or_trim

        n_mel = chunk.numel() // HOP_LENGTH
        audio = pad_or_trim(chunk, CHUNK_SAMPLES) if self.padded else chunk
        mel = log_mel_spectrogram(audio.to(self.device), self.n_mels)  # (n_mels, n_mel or 3000)
        frames = self._encode_mel(mel.unsqueeze(0).to(self.compute_dtype))[0]
        return frames[: (n_mel + 1) // 2]

    def _encode_mel(self, mel: Tensor) -> Tensor:
        """mel: (1, n_mels, n) -> (1, ceil(n/2), d); positions sliced to the frames present."""
        enc = self.encoder
        x = nn.functional.gelu(enc.conv1(mel))
        x = nn.functional.gelu(enc.conv2(x)).permute(0, 2, 1)
        x = (x + enc.positional_embedding[: x.shape[1]]).to(x.dtype)
        for block in enc.blocks:
            x = block(x)
        return enc.ln_post(x)


def load_encoder(name: str, device: str | torch.device = "cpu", padded: bool = False) -> SpeechEncoder:
    """An openai-whisper model's encoder, by openai-whisper name, local checkpoint or offline name
    (`whisper_loader.load_whisper`); the text decoder is dropped."""
    from .whisper_loader import load_whisper

    whisper_model = load_whisper(name, device=device)
    return SpeechEncoder(whisper_model.encoder, whisper_model.dims.n_mels, padded=padded)


def _masked_block(block: nn.Module, x: Tensor, keys: Tensor) -> Tensor:
    """whisper's ResidualAttentionBlock (self-attention only) with padded frames masked as keys."""
    attn = block.attn
    h = block.attn_ln(x)
    q, k, v = attn.query(h), attn.key(h), attn.value(h)
    heads = lambda t: t.view(*t.shape[:2], attn.n_head, -1).permute(0, 2, 1, 3)
    a = nn.functional.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=keys)
    x = x + attn.out(a.permute(0, 2, 1, 3).flatten(start_dim=2))
    return x + block.mlp(block.mlp_ln(x))
