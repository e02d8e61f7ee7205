"""Training examples: where they come from and which ones each process sees at each step.

`load_instruction_data` reads a manifest.jsonl, a `datasets.save_to_disk` directory or a hub
dataset into an `InstructionData` (random access, audio decoded only on use). The data order is a
function of (seed, epoch) alone (`batch_indices`), so a resumed run sees exactly what an
uninterrupted one would. Before step 1 the trainer runs `preflight`: every example's audio decodes
(lslm_eval.audio's rules), every instruction and response is non-empty text, the manifest is UTF-8,
and all problems are listed in one error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lslm_eval.audio import AudioError, load_audio
from lslm_eval.trainers.config import FIELDS

HUB_PREFIX = "hub:"
LISTED_PROBLEMS = 30  # problems named in one error (the count is always given)


class TrainingDataError(ValueError):
    """Training data that is missing or lacks what an example needs."""


def _raise_all(source: str, problems: list[str]) -> None:
    if problems:
        shown = problems[:LISTED_PROBLEMS]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise TrainingDataError(f"{source}: {len(problems)} problem(s) in the training data, fix them before training:\n  "
                                + "\n  ".join(shown) + more)



class InstructionData:
    """Random access to training examples: `data[i]` -> {"audio", "instruction", "response"}.

    Rows are a list (manifest) or a `datasets.Dataset` whose audio column is left undecoded, so
    audio is read only when an example is used and `datasets` never needs torchcodec."""

    def __init__(self, rows: Sequence[dict], source: str):
        self.rows = rows
        self.source = source

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[int(index)]

    def waveform(self, index: int) -> np.ndarray:
        """(n,) float32 16 kHz mono, whatever the stored rate and channel count (soxr resampling)."""
        return load_audio(self[index]["audio"])


def load_instruction_data(data: str, columns: dict[str, str] | None = None) -> InstructionData:
    """A manifest.jsonl, a `datasets.save_to_disk` directory, or `hub:ID:SPLIT` / `hub:ID:CONFIG:SPLIT`."""
    if data.startswith(HUB_PREFIX):
        return _from_dataset(_load_hub_dataset(data[len(HUB_PREFIX):]), data, columns or {})
    path = Path(data)
    if path.is_file():
        return _from_manifest(path)
    if path.is_dir():
        import datasets

        dataset = datasets.load_from_disk(str(path))
        if isinstance(dataset, datasets.DatasetDict):
            raise TrainingDataError(f"{path} holds the splits {sorted(dataset)}; give one of them: {path}/<split>")
        return _from_dataset(dataset, data, columns or {})
    raise TrainingDataError(f"training data not found: {data!r} is neither a file, a directory nor hub:ID:SPLIT")


def _load_hub_dataset(spec: str):
    import datasets

    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise TrainingDataError(f"a hub dataset is written hub:ID:SPLIT or hub:ID:CONFIG:SPLIT, got hub:{spec}")
    name, config, split = parts[0], (parts[1] if len(parts) == 3 else None), parts[-1]
    return datasets.load_dataset(name, config, split=split)


def _from_manifest(path: Path) -> InstructionData:
    rows, problems = [], []
    for line_no, raw in enumerate(path.read_bytes().splitlines(), 1):
        where = f"{path}:{line_no}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            problems.append(f"{where}: not UTF-8 ({err.reason} at byte {err.start})")
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(f"{where}: not JSON ({err})")
            continue
        try:
            _check_example(row, where)
        except TrainingDataError as err:
            problems.append(str(err))
            continue
        audio = path.parent / row["audio"]
        if not audio.is_file():
            problems.append(f"{where}: audio file {audio} does not exist (paths are relative to the manifest)")
            continue
        rows.append({"audio": str(audio.resolve()), "instruction": row["instruction"], "response": row["response"],
                     "where": where})
    if len(problems) == 1:
        raise TrainingDataError(problems[0])
    _raise_all(str(path), problems)
    if not rows:
        raise TrainingDataError(f"{path} holds no examples")
    return InstructionData(rows, str(path))


def preflight(data: InstructionData, progress: bool = True) -> None:
    """Decode every example's audio and check its texts; one TrainingDataError lists every problem."""
    from tqdm import tqdm

    problems = []
    for index in tqdm(range(len(data)), desc="checking training data", disable=not progress, leave=False):
        row = data[index]
        where = row.get("where") or f"{data.source}: example {index}"
        for name in ("instruction", "response"):
            if not isinstance(row.get(name), str) or not row[name].strip():
                problems.append(f"{where}: no {name} (got {row.get(name)!r})")
        try:
            data.waveform(index)
        except AudioError as err:
            audio = row.get("audio")
            problems.append(f"{where}: audio {audio.get('path') if isinstance(audio, dict) else audio}: {err}")
    _raise_all(data.source, problems)


def _from_dataset(dataset, source: str, columns: dict[str, str]) -> InstructionData:
    import datasets

    names = {name: columns.get(name, name) for name in FIELDS}
    missing = [f"{name} (column {column!r})" for name, column in names.items() if column not in dataset.column_names]
    if missing:
        raise TrainingDataError(f"{source}: no {', '.join(missing)}; it has {dataset.column_names}; map fields with `columns`")
    dataset = dataset.select_columns(list(names.values())).rename_columns({c: n for n, c in names.items() if c != n})
    if isinstance(dataset.features["audio"], datasets.Audio):
        dataset = dataset.cast_column("audio", datasets.Audio(decode=False))
    _raise_all(source, [f"example {index} has no {name} (got {text!r})" for name in ("instruction", "response")
                        for index, text in enumerate(dataset[name]) if not isinstance(text, str) or not text.strip()])
    if len(dataset) == 0:
        raise TrainingDataError(f"{source} holds no examples")
    return InstructionData(dataset, source)


def _check_example(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise TrainingDataError(f"{where}: an example is a JSON object with {FIELDS}")
    missing = [name for name in FIELDS if not isinstance(row.get(name), str) or not row[name].strip()]
    if missing:
        raise TrainingDataError(f"{where}: missing or empty {missing}; every example needs {FIELDS}")


def batch_indices(n_examples: int, batch_size: int, seed: int, micro_step: int, world: int = 1, rank: int = 0) -> list[int]:
    """Example indices of process `rank`'s micro-batch number `micro_step`.

    Epoch e is the permutation drawn from (seed, e); global micro-batch k of it is the slice
    [k * world * batch_size, (k + 1) * world * batch_size), of which `rank` takes the rank-th part.
    The tail that fills no global batch is dropped."""
    per_epoch = n_examples // (batch_size * world)
    epoch, position = divmod(micro_step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n_examples)
    start = (position * world + rank) * batch_size
    return order[start : start + batch_size].tolist()


def uses_text_input(seed: int, epoch: int, index: int, text_mix: float) -> bool:
    """Whether example `index` is given as its written instruction in `epoch` (probability text_mix)."""
    return text_mix > 0 and np.random.default_rng([seed, epoch, index]).random() < text_mix


def response_token_ids(tokenizer, response: str) -> list[int]:
    """The target: the response's tokens and the end-of-turn token the chat template would close with."""
    return tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]

