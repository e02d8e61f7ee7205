"""Weight integrity: what was written is what is loaded, and damaged weights stop the run, named.

Invariant: no weight file reaches a model unchecked.
- A directory's weight files (every `*.safetensors` in it, recursively) are recorded as
  {relative path: sha256} when written (`record`) and checked against that record when read
  (`verify`): a changed, missing or extra-damaged file raises `IntegrityError` naming the file and
  both hashes. Checkpoints keep the record in config.json (`LSLMConfig.weights_sha256`); the
  converted offline cache keeps it in `MANIFEST_FILE` beside the weights.
- Weights written before records existed are checked for content instead: every tensor finite
  (`check_finite_files`).
- Reading a safetensors file that is truncated or garbled raises `IntegrityError` naming the file
  (`load_safetensors`), never the library's bare message.
- At run time `guard_logits` stops a forward pass whose logits hold NaN or +inf, naming the model.

Hashes of a file are memoised per process by (device, inode, size, mtime), so loading twice hashes once.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

HASH_CHUNK_BYTES = 1 << 20
WEIGHT_PATTERN = "*.safetensors"
MANIFEST_FILE = "sha256.json"  # the record of a directory that has no config to hold it

_memo: dict[tuple[int, int, int, int], str] = {}


class IntegrityError(ValueError):
    """Weights that are not what was written, cannot be read, or hold non-finite numbers."""


def sha256_file(path: str | Path) -> str:
    path = Path(path)
    stat = path.stat()
    key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)  # a rename (staging -> cache) keeps it
    if key not in _memo:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
        _memo[key] = digest.hexdigest()
    return _memo[key]


def weight_files(directory: str | Path) -> list[Path]:
    """Every weight file under `directory`, sorted, hidden (staging) entries excluded."""
    directory = Path(directory)
    return sorted(p for p in directory.rglob(WEIGHT_PATTERN)
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts))


def record(directory: str | Path) -> dict[str, str]:
    """{path relative to `directory`: sha256} of its weight files."""
    directory = Path(directory)
    return {p.relative_to(directory).as_posix(): sha256_file(p) for p in weight_files(directory)}


def verify(directory: str | Path, recorded: dict[str, str], what: str | None = None) -> None:
    """Raise IntegrityError unless every recorded file exists with its recorded sha256."""
    directory = Path(directory)
    what = what or str(directory)
    for name, expected in sorted(recorded.items()):
        file = directory / name
        if not file.is_file():
            raise IntegrityError(f"{what}: weight file {file} is missing (recorded with sha256 {expected})")
        actual = sha256_file(file)
        if actual != expected:
            raise IntegrityError(f"{what}: weight file {file} has sha256 {actual}, but {expected} was recorded when it "
                                 "was written: the file is damaged or was replaced")


def write_manifest(directory: str | Path) -> dict[str, str]:
    """Record the directory's weight files in its MANIFEST_FILE (for caches, which have no config); atomic."""
    import os
    import tempfile

    hashes = record(directory)
    handle, tmp = tempfile.mkstemp(prefix=f".{MANIFEST_FILE}.", dir=directory)
    with os.fdopen(handle, "w") as out:
        out.write(json.dumps(hashes, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, Path(directory) / MANIFEST_FILE)
    return hashes


def read_manifest(directory: str | Path) -> dict[str, str] | None:
    """The directory's recorded hashes, or None when it has no (readable) MANIFEST_FILE."""
    file = Path(directory) / MANIFEST_FILE
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data and all(isinstance(v, str) for v in data.values()) else None


def load_safetensors(file: str | Path, device: str = "cpu"):
    """safetensors' load_file (no unpickling), with a truncated or garbled file named in the error."""
    from safetensors.torch import load_file

    try:
        return load_file(str(file), device=device)
    except FileNotFoundError:
        raise
    except Exception as err:  # SafetensorError, OSError, ValueError on a damaged header
        raise IntegrityError(f"{file} is not a readable safetensors file (truncated or garbled?): {err}") from err


def check_finite(state: dict, source: str | Path) -> None:
    """Raise IntegrityError naming the first tensor of `state` that holds NaN or inf."""
    import torch

    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise IntegrityError(f"{source}: tensor {name!r} holds {bad} non-finite value(s) (NaN or inf): the weights are damaged")


def check_finite_files(directory: str | Path) -> None:
    """Every tensor of every weight file under `directory` is finite (for weights written before hashes were recorded)."""
    for file in weight_files(directory):
        check_finite(load_safetensors(file), file)


def guard_logits(module, name):
    """A forward hook on `module` (the LM head) raising IntegrityError when its output holds NaN or +inf.

    -inf is allowed (masking); `name()` says which model in the error. Returns the hook handle."""
    import torch

    def check(_module, _inputs, output):
        logits = output[0] if isinstance(output, tuple) else output
        if isinstance(logits, torch.Tensor) and logits.is_floating_point():
            if bool(torch.isnan(logits).any()) or bool(torch.isposinf(logits).any()):
                raise IntegrityError(f"non-finite logits (NaN or +inf) from {name()}: damaged weights, a diverged "
                                     "training run, or a dtype that overflows (try dtype=float32)")
        return None

    previous = getattr(module, "_lslm_logit_guard", None)
    if previous is not None:  # one guard per module: a new owner replaces the old one
        previous.remove()
    module._lslm_logit_guard = module.register_forward_hook(check)
    return module._lslm_logit_guard


def finite_or_raise(value, what: str) -> None:
    """Raise IntegrityError when a tensor (or float) `value` holds NaN or inf; `what` names it."""
    import torch

    ok = bool(torch.isfinite(value).all()) if isinstance(value, torch.Tensor) else math.isfinite(value)
    if not ok:
        raise IntegrityError(f"non-finite values (NaN or inf) in {what}")
