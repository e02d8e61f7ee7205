"""How a checkpoint names its encoder, LLM and tokenizer, so that it loads on another machine.

Invariant: a checkpoint's config.json holds, for each part, either a *name* (an offline name such
as tiny.en-offline or offline:SmolLM2-135M-Instruct, an openai-whisper name, a hub id) or a
*path relative to the checkpoint* written `./...` or `../...`; never an absolute path of the
machine that wrote it. A part whose path is missing on load is named in the error, with what to
pass instead, before any weights are read.
"""

from __future__ import annotations

import os
from pathlib import Path

from .model import CheckpointError

PARTS = {"encoder": "the Whisper encoder", "llm": "the LLM", "tokenizer": "the tokenizer"}
RELATIVE_PREFIXES = ("./", "../")


class MissingPartError(CheckpointError):
    """A checkpoint part (encoder, LLM, tokenizer) whose stored path does not exist here."""


def is_relative_reference(value: str) -> bool:
    return str(value).startswith(RELATIVE_PREFIXES)


def to_stored(value: str | None, checkpoint_dir: str | os.PathLike) -> str | None:
    """A part as a checkpoint stores it: existing local paths become relative to the checkpoint."""
    if not value:
        return value
    path = Path(value).expanduser()
    if is_relative_reference(value) or not path.exists():
        return value  # a name (offline, openai-whisper, hub id), or already relative
    relative = os.path.relpath(path.resolve(), Path(checkpoint_dir).resolve())
    return relative if relative.startswith("../") else f"./{relative}"


def from_stored(value: str | None, checkpoint_dir: str | os.PathLike) -> str | None:
    """A stored part as a loadable reference: `./x` and `../x` resolve against the checkpoint folder."""
    if value and is_relative_reference(value):
        return str((Path(checkpoint_dir) / value).resolve())
    return value


def check_parts(config, checkpoint_dir: str | os.PathLike, overridden: set[str] = frozenset()) -> None:
    """Raise MissingPartError naming every stored part whose path is missing here (before any loading)."""
    missing = []
    for part, label in PARTS.items():
        stored = getattr(config, part, None)
        if not stored or part in overridden:
            continue
        looks_like_path = is_relative_reference(stored) or os.path.isabs(stored) or stored.startswith("~")
        if looks_like_path and not Path(from_stored(stored, checkpoint_dir)).expanduser().exists():
            missing.append(f"{part} ({label}): {stored!r} -> {from_stored(stored, checkpoint_dir)} does not exist")
    if missing:
        raise MissingPartError(
            f"checkpoint {checkpoint_dir} cannot load here: " + "; ".join(missing)
            + ". Copy the part beside the checkpoint, or point at it: --model_args checkpoint=...,"
            + ",".join(f"{line.split(' ', 1)[0]}=PATH" for line in missing)
            + " (LSLM.from_pretrained(..., encoder=..., llm=...))")
