"""SpeechMMLU (hub dataset `XiaomiMiMo/SpeechMMLU`, used by paper 2): MMLU questions with their options, spoken.

    load_speechmmlu("global_facts")                  # one subject from the hub
    load_speechmmlu("all", source="sample")          # every subject of the shipped sample, concatenated

One config per MMLU subject, one split, "train" (as the official MiMo-Audio evaluation loads it). Columns:
    id (string), subject (string), question_text (string: the question with its options, the transcript),
    question_audio (audio), voice_id (string, e.g. "english_prompt_001"), answer (int64, 0-3 = options A-D).
On the hub `question_audio` is a path relative to the repository root, into `audio/` that ships packed as
`audio.tar.gz`. Both are resolved here: rows always give `question_audio` as Audio(decode=False) {"bytes", "path"}.

Sources (switch: metadata key `speechmmlu_source`, else LSLM_EVAL_SPEECHMMLU, else the hub; see `sources`):
    - hub: `huggingface_hub.snapshot_download` of the repository (audio.tar.gz unpacked in place on first use);
    - a directory holding either that repository (`huggingface-cli download XiaomiMiMo/SpeechMMLU --repo-type dataset
      --local-dir DIR`, then `tar -xzf audio.tar.gz` inside DIR) or `<DIR>/<subject>/` saved with
      DatasetDict.save_to_disk with question_audio an Audio column (the layout of the shipped sample);
    - sample.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

import datasets

from lslm_eval.audio import undecoded

from .ids import ITEM_ID_COLUMN, disambiguate
from .sources import (DATASET_DICT_FILE, HUB, SAMPLE, DataSourceError, SourceSwitch, load_local_split, require_columns,
                      saved_configs, undecoded_audio)

SPEECHMMLU_HUB_ID = "XiaomiMiMo/SpeechMMLU"
SWITCH = SourceSwitch(benchmark="SpeechMMLU", metadata_key="speechmmlu_source", env_var="LSLM_EVAL_SPEECHMMLU",
                      sample_dir="speechmmlu")
SPEECHMMLU_SPLIT = "train"
ALL_SUBJECTS = "all"
AUDIO_COLUMN = "question_audio"
TEXT_COLUMN = "question_text"
ANSWER_COLUMN = "answer"
SPEECHMMLU_COLUMNS = ("id", "subject", TEXT_COLUMN, AUDIO_COLUMN, "voice_id", ANSWER_COLUMN)
ANSWER_LETTERS = ("A", "B", "C", "D")  # answer 0-3
AUDIO_ARCHIVE = "audio.tar.gz"
AUDIO_DIR = "audio"
README_FILE = "README.md"  # a repository checkout declares its subjects (configs) in its README


def load_speechmmlu(subject: str = ALL_SUBJECTS, split: str = SPEECHMMLU_SPLIT,
                    source: str | os.PathLike | None = None) -> datasets.Dataset:
    """One subject ("all": every subject, in name order) with question_audio undecoded ({"bytes", "path"})."""
    chosen = SWITCH.resolve(source)
    root = _download_repository() if chosen == HUB else SWITCH.sample_root if chosen == SAMPLE else Path(chosen)
    subjects = speechmmlu_subjects(root) if subject == ALL_SUBJECTS else [subject]
    if not subjects:
        raise DataSourceError(f"SpeechMMLU: no subjects found in {root}. {SWITCH.how_to_choose()}")
    parts = [_load_subject(root, name, split) for name in subjects]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def speechmmlu_subjects(root: Path) -> list[str]:
    """Subjects in a local copy: saved DatasetDicts, else the configs a repository checkout declares."""
    saved = saved_configs(root)
    if saved or not (root / README_FILE).is_file():
        return saved
    return sorted(datasets.get_dataset_config_names(str(root)))


def _load_subject(root: Path, subject: str, split: str) -> datasets.Dataset:
    if (root / subject / DATASET_DICT_FILE).is_file() or not (root / README_FILE).is_file():
        dataset = load_local_split(root, subject, split, "SpeechMMLU")
    else:
        subjects = sorted(datasets.get_dataset_config_names(str(root)))
        if subject not in subjects:
            raise DataSourceError(f"SpeechMMLU: no subject {subject!r} in {root}; found: {', '.join(subjects)}")
        dataset = datasets.load_dataset(str(root), subject, split=split)
    require_columns(dataset, SPEECHMMLU_COLUMNS, f"SpeechMMLU {subject}/{split} from {root}")
    if not isinstance(dataset.features[AUDIO_COLUMN], datasets.Audio):
        dataset = _resolve_audio_paths(dataset, root, subject)
    return undecoded_audio(dataset, AUDIO_COLUMN)


def _resolve_audio_paths(dataset: datasets.Dataset, root: Path, subject: str) -> datasets.Dataset:
    """question_audio given as paths relative to the repository root -> absolute paths, all checked to exist."""
    missing = [p for p in dict.fromkeys(dataset[AUDIO_COLUMN]) if not (root / p).is_file()]
    if missing:
        unpack = f" Unpack it first: tar -xzf {AUDIO_ARCHIVE} -C {root}" if (root / AUDIO_ARCHIVE).is_file() else ""
        raise DataSourceError(f"SpeechMMLU: {len(missing)} audio files of {subject} are missing under {root}, "
                              f"e.g. {missing[0]}.{unpack}")
    return dataset.map(lambda batch: {AUDIO_COLUMN: [str(root / p) for p in batch[AUDIO_COLUMN]]}, batched=True)


def _download_repository() -> Path:
    """The hub repository's local snapshot, its audio unpacked."""
    try:
        from huggingface_hub import snapshot_download

        root = Path(snapshot_download(repo_id=SPEECHMMLU_HUB_ID, repo_type="dataset"))
    except Exception as err:  # offline, gated, renamed: every cause gets the same way out, with the cause attached
        raise DataSourceError(
            f"cannot download SpeechMMLU from the Hugging Face hub ({SPEECHMMLU_HUB_ID}): {type(err).__name__}: {err}\n"
            "Without hub access, use a local copy or the shipped sample:\n"
            f"  - local copy: where the hub can be reached, run\n"
            f"      huggingface-cli download {SPEECHMMLU_HUB_ID} --repo-type dataset --local-dir SMMLU\n"
            f"      tar -xzf SMMLU/{AUDIO_ARCHIVE} -C SMMLU\n"
            f"    copy SMMLU/ here and pass --metadata '{{\"{SWITCH.metadata_key}\": \"SMMLU\"}}' "
            f"(or set {SWITCH.env_var}=SMMLU);\n"
            f"  - sample (a few synthetic items, for smoke tests, not for scores): "
            f"--metadata '{{\"{SWITCH.metadata_key}\": \"{SAMPLE}\"}}' (or {SWITCH.env_var}={SAMPLE})."
        ) from err
    if not (root / AUDIO_DIR).is_dir() and (root / AUDIO_ARCHIVE).is_file():
        with tarfile.open(root / AUDIO_ARCHIVE) as archive:
            archive.extractall(root, filter="data")  # "data": no absolute paths, links or escapes out of root
    return root


def item_id(doc: dict[str, Any]) -> str:
    """`speechmmlu/<subject>/<id>`, from the dataset's own id."""
    return f"speechmmlu/{doc['subject']}/{doc['id']}"


def speechmmlu_dataset(config: str = ALL_SUBJECTS, split: str = SPEECHMMLU_SPLIT, speechmmlu_source: str | None = None,
                       **ignored: Any) -> dict[str, datasets.Dataset]:
    """lm-eval `custom_dataset`: {split: Dataset} of subject `config` with ITEM_ID_COLUMN added."""
    dataset = load_speechmmlu(config, split, speechmmlu_source)
    ids = disambiguate(item_id(doc) for doc in dataset.select_columns(["id", "subject"]))
    return {split: dataset.add_column(ITEM_ID_COLUMN, ids)}


def doc_to_audio(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """lm-eval `doc_to_audio`: [{"bytes": the encoded recording, "path", "transcript": the
    question text, "id": the stable item id}] (audio.undecoded: the
    model decodes it, lm-eval's --use_cache keys on its bytes)."""
    key = doc.get(ITEM_ID_COLUMN) or item_id(doc)
    return [{**undecoded(doc[AUDIO_COLUMN]), "transcript": doc[TEXT_COLUMN],
             "id": key}]
