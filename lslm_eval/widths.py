"""The widths an adaptor connects (encoder output, LLM input), read without loading any weights.

A checkpoint's adaptor maps `encoder_dim` to `llm_dim`; given another encoder or LLM, a width
that differs is found here, from dims.json / a .pt header / the LLM's config.json, before the
minute of model loading, and the error gives the command that trains an adaptor for the new pair.
A width that cannot be read cheaply is None (the check after loading still catches it).
"""

from __future__ import annotations

import json
from pathlib import Path

from .model import CheckpointError

# openai-whisper's encoder widths (n_audio_state) by model name (whisper/__init__.py's _MODELS)
WHISPER_WIDTHS = {"tiny": 384, "base": 512, "small": 768, "medium": 1024, "large": 1280, "turbo": 1280}


class WidthMismatch(CheckpointError):
    """A checkpoint's adaptor and a given encoder or LLM of another width."""


def encoder_width(name: str) -> int | None:
    from .offline import WHISPER_OFFLINE_NAME

    if name == WHISPER_OFFLINE_NAME:
        return WHISPER_WIDTHS["tiny"]
    path = Path(name).expanduser()
    if path.is_dir() and (path / "dims.json").is_file():
        return int(json.loads((path / "dims.json").read_text())["n_audio_state"])
    if path.is_file():
        try:
            import torch

            return int(torch.load(path, map_location="cpu", mmap=True, weights_only=True)["dims"]["n_audio_state"])
        except Exception:  # noqa: BLE001 - unreadable here: the loader will say why
            return None
    family = str(name).split(".")[0].split("-")[0]
    return WHISPER_WIDTHS.get(family)


def llm_width(name: str, gguf_file: str | None = None) -> int | None:
    if gguf_file:
        return None
    from .model import resolve_llm_path

    config = Path(resolve_llm_path(name)).expanduser() / "config.json"
    if not config.is_file():  # a hub id: its config may be cached, but reading it is the loader's business
        return None
    data = json.loads(config.read_text())
    width = data.get("hidden_size") or (data.get("text_config") or {}).get("hidden_size")
    return int(width) if width else None


def check_widths(checkpoint: str | Path, saved: tuple[int | None, int | None], config) -> None:
    """Raise WidthMismatch when the adaptor's widths differ from the given encoder's or LLM's."""
    problems = []
    for part, saved_width, width in (("encoder", saved[0], encoder_width(config.encoder)),
                                     ("LLM", saved[1], llm_width(config.llm, config.gguf_file))):
        if saved_width is not None and width is not None and saved_width != width:
            name = config.encoder if part == "encoder" else config.llm
            problems.append(f"the adaptor was trained for {part} width {saved_width}, but {part} {name!r} has width {width}")
    if problems:
        raise WidthMismatch(
            f"{checkpoint}: {'; '.join(problems)}. An adaptor connects one encoder to one LLM: train one for this pair, "
            f"e.g. `lslm-eval train --data MANIFEST.jsonl --encoder {config.encoder} --llm {config.llm} --mode adaptor "
            f"--output_dir runs/new-adaptor` (spoken training data: `lslm-eval data instructions` + `lslm-eval data synth`, "
            f"docs/offline-default.md)")
