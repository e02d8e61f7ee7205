"""VoiceBench (hub dataset `hlt-lab/voicebench`, official code MatthewCYM/VoiceBench) for lm-eval tasks.

    load_voicebench("sd-qa", "usa")                        # the hub
    load_voicebench("sd-qa", "usa", "sample")              # the shipped sample
    load_voicebench("sd-qa", "usa", "/data/voicebench")    # a local copy: /data/voicebench/sd-qa/

Task YAML: `custom_dataset: !function utils.voicebench_dataset`, `dataset_kwargs: {config: sd-qa, split: usa}`,
`doc_to_audio: !function utils.doc_to_audio`; the source comes from `--metadata '{"voicebench_source": ...}'`,
else LSLM_EVAL_VOICEBENCH, else the hub (see `sources`). A local copy is made, where the hub can be reached, with
    python -c "import datasets; datasets.load_dataset('hlt-lab/voicebench', 'sd-qa').save_to_disk('VB/sd-qa')"
(one line per config) and used as `voicebench_source: VB`.

Schema (columns of every row; `audio` is a datasets Audio feature at 16 kHz, `prompt` its transcript, which the
text-input twin uses):

| config          | splits                        | columns besides audio (Audio) and prompt (string)            |
|-----------------|-------------------------------|--------------------------------------------------------------|
| sd-qa           | SDQA_SPLITS (11 accents)      | reference (string): short answer                             |
| mmsu            | MMSU_SPLITS (12 domains)      | reference (string): "A".."D"; options A-D are in the prompt |
| openbookqa      | test                          | reference (string): "A".."D"; options A-D are in the prompt |
| ifeval          | test                          | key (int64), instruction_id_list (list of string),           |
|                 |                               | kwargs (list of struct IFEVAL_KWARGS_FEATURES, null unused)  |
| advbench        | test                          | -                                                            |
| bbh             | test                          | id (string, names the BBH task), reference (string):         |
|                 |                               | "yes"/"no" or "(A)"/"(B)"                                    |
| alpacaeval_full | test                          | -                                                            |
| commoneval      | test                          | -                                                            |
| wildvoice       | test                          | -                                                            |

Sources of the schema: the hub dataset card's dataset_info (advbench, alpacaeval_full, commoneval, ifeval, sd-qa),
the official evaluators (src/evaluator: `reference` for mcq/qa/bbh, bbh's `id` matched against the task names in
BBH_TASKS, ifeval's `key`/`instruction_id_list`/`kwargs`), and other harnesses that load the hub data (bbh `id`,
wildvoice `prompt`). The hub may carry further columns in mmsu, openbookqa, bbh and wildvoice; they pass through.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from lslm_eval.audio import undecoded

from .ids import ITEM_ID_COLUMN, disambiguate, text_hash
from .sources import HELDOUT, HUB, SAMPLE, DataSourceError, SourceSwitch, load_local_split, require_columns, undecoded_audio

VOICEBENCH_HUB_ID = "hlt-lab/voicebench"
SWITCH = SourceSwitch(benchmark="VoiceBench", metadata_key="voicebench_source", env_var="LSLM_EVAL_VOICEBENCH",
                      sample_dir="voicebench")

AUDIO_COLUMN = "audio"
PROMPT_COLUMN = "prompt"
REFERENCE_COLUMN = "reference"
TEST_SPLITS = ("test",)
SDQA_SPLITS = ("aus", "gbr", "ind_n", "ind_s", "irl", "kenya", "nga", "nzl", "phl", "usa", "zaf")
MMSU_SPLITS = ("biology", "business", "chemistry", "economics", "engineering", "health", "history", "law", "other",
               "philosophy", "physics", "psychology")
MCQ_CHOICES = ("A", "B", "C", "D")
BBH_TASKS = ("sports_understanding", "hyperbaton", "navigate", "web_of_lies")  # those the official bbh evaluator scores
BBH_REFERENCES = ("yes", "no", "(a)", "(b)")  # lower-cased, as the official evaluator compares them

# google IFEval's instruction arguments: the fields of each `kwargs` struct (null where an instruction has no such
# argument; the checkers drop nulls before build_description)
_INT, _TEXT, _TEXTS = datasets.Value("int64"), datasets.Value("string"), datasets.List(datasets.Value("string"))
IFEVAL_KWARGS_FEATURES = {
    "num_highlights": _INT, "relation": _TEXT, "num_words": _INT, "num_placeholders": _INT, "prompt_to_repeat": _TEXT,
    "num_bullets": _INT, "section_spliter": _TEXT, "num_sections": _INT, "capital_relation": _TEXT,
    "capital_frequency": _INT, "keywords": _TEXTS, "num_paragraphs": _INT, "language": _TEXT, "let_relation": _TEXT,
    "letter": _TEXT, "let_frequency": _INT, "end_phrase": _TEXT, "forbidden_words": _TEXTS, "keyword": _TEXT,
    "frequency": _INT, "num_sentences": _INT, "postscript_marker": _TEXT, "first_word": _TEXT, "nth_paragraph": _INT,
}  # fmt: skip


@dataclass(frozen=True)
class ConfigSchema:
    """One VoiceBench config: its splits, its columns besides audio and prompt, the column naming an item."""

    splits: tuple[str, ...]
    extra_columns: tuple[str, ...] = ()
    id_column: str | None = None
    columns: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "columns", (AUDIO_COLUMN, PROMPT_COLUMN, *self.extra_columns))


VOICEBENCH_CONFIGS: dict[str, ConfigSchema] = {
    "sd-qa": ConfigSchema(SDQA_SPLITS, (REFERENCE_COLUMN,)),
    "mmsu": ConfigSchema(MMSU_SPLITS, (REFERENCE_COLUMN,)),
    "openbookqa": ConfigSchema(TEST_SPLITS, (REFERENCE_COLUMN,)),
    "ifeval": ConfigSchema(TEST_SPLITS, ("key", "instruction_id_list", "kwargs"), id_column="key"),
    "advbench": ConfigSchema(TEST_SPLITS),
    "bbh": ConfigSchema(TEST_SPLITS, ("id", REFERENCE_COLUMN), id_column="id"),
    "alpacaeval_full": ConfigSchema(TEST_SPLITS),
    "commoneval": ConfigSchema(TEST_SPLITS),
    "wildvoice": ConfigSchema(TEST_SPLITS),
}


def config_schema(config: str, split: str) -> ConfigSchema:
    """The schema of `config`, after checking that `split` is one of its splits."""
    if config not in VOICEBENCH_CONFIGS:
        raise ValueError(f"unknown VoiceBench config {config!r}; known: {', '.join(VOICEBENCH_CONFIGS)}")
    schema = VOICEBENCH_CONFIGS[config]
    if split not in schema.splits:
        raise ValueError(f"VoiceBench config {config!r} has no split {split!r}; its splits: {', '.join(schema.splits)}")
    return schema


def load_voicebench(config: str, split: str, source: str | os.PathLike | None = None) -> datasets.Dataset:
    """One VoiceBench split with the audio column undecoded ({"bytes", "path"}), in the schema above.

    source: HUB, SAMPLE or a local copy's directory; None defers to LSLM_EVAL_VOICEBENCH, then the hub.
    """
    schema = config_schema(config, split)
    chosen = SWITCH.resolve(source)
    if chosen == HUB:
        dataset = _load_from_hub(config, split)
    elif chosen == SAMPLE:
        dataset = load_local_split(SWITCH.sample_root, config, split, "VoiceBench sample")
    else:
        dataset = load_local_split(Path(chosen), config, split, "VoiceBench local copy")
    require_columns(dataset, schema.columns, f"VoiceBench {config}/{split} from {chosen}")
    return undecoded_audio(dataset, AUDIO_COLUMN)


@functools.cache
def sample_prompts() -> frozenset[str]:
    """Every written prompt of the shipped VoiceBench sample, lowercased: what training data must not contain."""
    return frozenset(prompt.lower() for config, schema in VOICEBENCH_CONFIGS.items() for split in schema.splits
                     for prompt in load_voicebench(config, split, SAMPLE)[PROMPT_COLUMN])


HELDOUT_CONFIGS = ("sd-qa", "openbookqa", "mmsu")  # what the held-out set (`voicebench_source: heldout`) holds


@functools.cache
def heldout_prompts() -> frozenset[str]:
    """Every written prompt of the shipped held-out set (scripts/build_heldout_data.py), lowercased."""
    return frozenset(prompt.lower() for config in HELDOUT_CONFIGS for split in VOICEBENCH_CONFIGS[config].splits
                     for prompt in load_voicebench(config, split, HELDOUT)[PROMPT_COLUMN])


def evaluation_prompts() -> frozenset[str]:
    """The shipped sample's and the held-out set's prompts, lowercased: what no training data may contain."""
    return sample_prompts() | heldout_prompts()


def _load_from_hub(config: str, split: str) -> datasets.Dataset:
    try:
        return datasets.load_dataset(VOICEBENCH_HUB_ID, config, split=split)
    except Exception as err:  # offline, gated, renamed: every cause gets the same way out, with the cause attached
        raise DataSourceError(
            f"cannot load VoiceBench {config}/{split} from the Hugging Face hub ({VOICEBENCH_HUB_ID}): "
            f"{type(err).__name__}: {err}\n"
            "Without hub access, use a local copy or the shipped sample:\n"
            f"  - local copy: where the hub can be reached, run\n"
            f"      python -c \"import datasets; datasets.load_dataset('{VOICEBENCH_HUB_ID}', '{config}')"
            f".save_to_disk('VB/{config}')\"\n"
            f"    copy VB/ here and pass --metadata '{{\"{SWITCH.metadata_key}\": \"VB\"}}' "
            f"(or set {SWITCH.env_var}=VB);\n"
            f"  - sample (a few synthetic items, for smoke tests, not for scores): "
            f"--metadata '{{\"{SWITCH.metadata_key}\": \"{SAMPLE}\"}}' (or {SWITCH.env_var}={SAMPLE})."
        ) from err


def item_id(doc: dict[str, Any], config: str, split: str) -> str:
    """`voicebench/<config>/<split>/<local>`: local = the config's own id (bbh `id`, ifeval `key`), else a hash of
    the prompt. The split is part of the id because sd-qa repeats each question in every accent split."""
    return f"voicebench/{config}/{split}/{_local_id(doc, VOICEBENCH_CONFIGS[config].id_column)}"


def item_ids(dataset: datasets.Dataset, config: str, split: str) -> list[str]:
    """item_id of every row, in order, repeats made unique with `#2`, `#3`..."""
    schema = VOICEBENCH_CONFIGS[config]
    columns = [PROMPT_COLUMN] + ([schema.id_column] if schema.id_column else [])
    return disambiguate(item_id(doc, config, split) for doc in dataset.select_columns(columns))


def _local_id(doc: dict[str, Any], id_column: str | None) -> str:
    if id_column is not None and doc.get(id_column) is not None:
        return str(doc[id_column])
    return text_hash(doc[PROMPT_COLUMN])


def voicebench_dataset(config: str, split: str, voicebench_source: str | None = None,
                       **ignored: Any) -> dict[str, datasets.Dataset]:
    """lm-eval `custom_dataset`, called as custom_dataset(**metadata, **dataset_kwargs): {split: Dataset} with the
    column ITEM_ID_COLUMN added (doc_to_audio's stable ids). Other metadata keys (version, ...) are ignored."""
    dataset = load_voicebench(config, split, voicebench_source)
    return {split: dataset.add_column(ITEM_ID_COLUMN, item_ids(dataset, config, split))}


def doc_to_audio(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """lm-eval `doc_to_audio`: [{"bytes": the encoded recording, "path", "transcript": the prompt,
    "id": the stable item id}] (audio.undecoded: the
    model decodes it, lm-eval's --use_cache keys on its bytes).
    Docs without ITEM_ID_COLUMN (not from voicebench_dataset) get the prompt's hash."""
    key = doc.get(ITEM_ID_COLUMN) or text_hash(doc[PROMPT_COLUMN])
    return [{**undecoded(doc[AUDIO_COLUMN]), "transcript": doc[PROMPT_COLUMN],
             "id": key}]
