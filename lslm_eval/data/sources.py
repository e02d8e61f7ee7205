"""Where a benchmark's data comes from: the Hugging Face hub, a local copy on disk, or the shipped sample.

One switch per benchmark, first match wins:
    1. its lm-eval metadata key, e.g. `lm_eval ... --metadata '{"voicebench_source": "/data/voicebench"}'`;
    2. its environment variable, e.g. `LSLM_EVAL_VOICEBENCH=/data/voicebench`;
    3. "hub".
A value is "hub", "sample" (the few synthetic items under `lslm_eval/data/sample/`, for smoke tests, never for
scores), "heldout" (the project's own held-out spoken set under `lslm_eval/data/heldout/`, VoiceBench sd-qa,
openbookqa and mmsu only: hundreds of items, none in any training data the project builds; see
scripts/build_heldout_data.py) or the directory of a local copy. A failing source is an error: nothing falls back to the sample.

Local copy of a config (VoiceBench) or subject (SpeechMMLU) `<root>/<config>/`, either
    - a `datasets.DatasetDict` written by `save_to_disk`, as `load_dataset(hub_id, config).save_to_disk(root/config)`
      makes it (the layout of the shipped sample), or
    - data files `load_dataset` reads: `<root>/<config>/<split>-*.parquet` (the hub repository's own layout, as
      `huggingface-cli download --repo-type dataset --local-dir root` leaves it) or `<root>/<config>/<split>/*.parquet`;
      .arrow, .jsonl, .json and .csv work the same way.
Audio columns are cast to `Audio(decode=False)`: rows hold `{"bytes", "path"}` and are decoded by
`lslm_eval.audio.load_audio`, so `datasets`' own decoder (torchcodec) is never needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import datasets

HUB = "hub"
SAMPLE = "sample"
SAMPLE_ROOT = Path(__file__).resolve().parent / "sample"
HELDOUT = "heldout"
HELDOUT_ROOT = Path(__file__).resolve().parent / "heldout"
BUILDER_BY_SUFFIX = {".parquet": "parquet", ".arrow": "arrow", ".jsonl": "json", ".json": "json", ".csv": "csv"}
DATASET_DICT_FILE = "dataset_dict.json"  # what DatasetDict.save_to_disk writes at the top of its folder
DATASET_STATE_FILE = "state.json"  # what Dataset.save_to_disk writes


class DataSourceError(RuntimeError):
    """A benchmark's data cannot be found or loaded from the chosen source; the message says what to do."""


@dataclass(frozen=True)
class SourceSwitch:
    """The one switch that picks a benchmark's data source (see the module docstring)."""

    benchmark: str  # for messages, e.g. "VoiceBench"
    metadata_key: str  # lm-eval --metadata key, e.g. "voicebench_source"
    env_var: str  # e.g. "LSLM_EVAL_VOICEBENCH"
    sample_dir: str  # folder of the shipped sample under SAMPLE_ROOT

    def resolve(self, explicit: str | os.PathLike | None = None) -> str | Path:
        """The chosen source: HUB, SAMPLE or the Path of an existing local copy."""
        value = str(explicit).strip() if explicit not in (None, "") else os.environ.get(self.env_var, "").strip()
        value = value or HUB
        if value in (HUB, SAMPLE):
            return value
        if value == HELDOUT:
            root = HELDOUT_ROOT / self.sample_dir
            if not root.is_dir():
                raise DataSourceError(f"{self.benchmark} has no held-out set ({root} does not exist); "
                                      f"{HELDOUT!r} covers VoiceBench sd-qa, openbookqa and mmsu")
            return root  # read as a local copy
        root = Path(value).expanduser()
        if not root.is_dir():
            raise DataSourceError(
                f"{self.benchmark} source {value!r} (from {self.origin(explicit)}) is neither {HUB!r}, {SAMPLE!r} "
                f"nor an existing directory. {self.how_to_choose()}"
            )
        return root

    def origin(self, explicit: str | os.PathLike | None) -> str:
        if explicit not in (None, ""):
            return f"metadata key {self.metadata_key!r}"
        return f"environment variable {self.env_var}" if os.environ.get(self.env_var, "").strip() else "the default"

    @property
    def sample_root(self) -> Path:
        return SAMPLE_ROOT / self.sample_dir

    def how_to_choose(self) -> str:
        return (
            f"Choose the source with lm-eval's --metadata '{{\"{self.metadata_key}\": SOURCE}}' or the environment "
            f"variable {self.env_var}=SOURCE, where SOURCE is {HUB!r}, {SAMPLE!r} (a few synthetic items shipped with "
            f"lslm-eval, for smoke tests, not for scores), {HELDOUT!r} (the project's held-out spoken set) or the "
            "directory of a local copy."
        )


def load_local_split(root: Path, config: str, split: str, benchmark: str) -> datasets.Dataset:
    """One split of `<root>/<config>/` in either local layout (module docstring)."""
    config_dir = root / config
    if not config_dir.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        raise DataSourceError(
            f"{benchmark}: no {config!r} under {root} (found: {', '.join(found) or 'no folders'}). "
            f"A local copy keeps each config in <root>/<config>/, e.g. {root / config}/."
        )
    if (config_dir / DATASET_DICT_FILE).is_file():
        splits = datasets.load_from_disk(str(config_dir))
        if split not in splits:
            raise DataSourceError(f"{benchmark}: {config_dir} has no split {split!r}; found splits: {', '.join(sorted(splits))}")
        return splits[split]
    if (config_dir / DATASET_STATE_FILE).is_file():
        raise DataSourceError(
            f"{benchmark}: {config_dir} holds a single Dataset; save the whole DatasetDict there instead "
            f"(datasets.DatasetDict({{{split!r}: dataset}}).save_to_disk(...))"
        )
    files = split_files(config_dir, split)
    if not files:
        found = sorted(file_splits(config_dir))
        raise DataSourceError(
            f"{benchmark}: no files of split {split!r} in {config_dir} (looked for {split}-*.parquet, {split}/*.parquet "
            f"and the same with {', '.join(s for s in BUILDER_BY_SUFFIX if s != '.parquet')}); found splits: "
            f"{', '.join(found) or 'none'}"
        )
    suffixes = {f.suffix for f in files}
    if len(suffixes) > 1:
        raise DataSourceError(f"{benchmark}: split {split!r} in {config_dir} mixes file types {sorted(suffixes)}; keep one")
    builder = BUILDER_BY_SUFFIX[files[0].suffix]
    return datasets.load_dataset(builder, data_files={split: [str(f) for f in files]}, split=split)


def split_files(config_dir: Path, split: str) -> list[Path]:
    """Data files of `split`: `<split>-*.ext`, `<split>.ext` or `<split>/*.ext`, sorted."""
    loose = [f for f in config_dir.iterdir() if f.is_file() and f.suffix in BUILDER_BY_SUFFIX and _file_split(f) == split]
    nested = config_dir / split
    inside = [f for f in nested.iterdir() if f.is_file() and f.suffix in BUILDER_BY_SUFFIX] if nested.is_dir() else []
    return sorted(loose + inside)


def file_splits(config_dir: Path) -> set[str]:
    """Split names that data files in `config_dir` provide."""
    names = {_file_split(f) for f in config_dir.iterdir() if f.is_file() and f.suffix in BUILDER_BY_SUFFIX}
    names |= {d.name for d in config_dir.iterdir() if d.is_dir() and any(f.suffix in BUILDER_BY_SUFFIX for f in d.iterdir())}
    return names


def _file_split(path: Path) -> str:
    """`usa-00000-of-00001.parquet` -> "usa"; `test.jsonl` -> "test"."""
    return path.name[: -len(path.suffix)].split("-", 1)[0]


def saved_configs(root: Path) -> list[str]:
    """Configs under `root` saved with DatasetDict.save_to_disk, sorted."""
    return sorted(p.name for p in root.iterdir() if (p / DATASET_DICT_FILE).is_file()) if root.is_dir() else []


def undecoded_audio(dataset: datasets.Dataset, column: str) -> datasets.Dataset:
    """`column` cast to Audio(decode=False), keeping its sampling rate: rows give `{"bytes", "path"}`."""
    feature = dataset.features[column]
    if isinstance(feature, datasets.Audio) and not feature.decode:
        return dataset
    sampling_rate = feature.sampling_rate if isinstance(feature, datasets.Audio) else None
    return dataset.cast_column(column, datasets.Audio(sampling_rate=sampling_rate, decode=False))


def require_columns(dataset: datasets.Dataset, columns: Iterable[str], where: str) -> None:
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise DataSourceError(f"{where} lacks columns {missing}; it has {dataset.column_names}")
