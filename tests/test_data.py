"""VoiceBench and SpeechMMLU data: the three sources, the switch, the shipped sample's schema, audio and ids."""

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile

from lslm_eval.audio import SAMPLE_RATE, load_audio
from lslm_eval.data import speechmmlu, voicebench
from lslm_eval.data.ids import ITEM_ID_COLUMN, disambiguate
from lslm_eval.data.sources import DataSourceError

SAMPLE_SPLITS = [(config, split) for config, schema in voicebench.VOICEBENCH_CONFIGS.items() for split in schema.splits]
LOCAL_PROMPT = "Which city is the sample of the local copy about?"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path_factory):
    """No source switch from the environment, and `datasets`' cache in a temporary folder."""
    monkeypatch.delenv(voicebench.SWITCH.env_var, raising=False)
    monkeypatch.delenv(speechmmlu.SWITCH.env_var, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf-datasets-cache"))
    datasets.disable_progress_bars()


def tone(seconds: float = 0.5, frequency: float = 440.0, rate: int = SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def sdqa_split(prompts: list[str], frequency: float = 440.0) -> datasets.Dataset:
    """A tiny sd-qa split as the hub has it: audio (Audio, 16 kHz), prompt, reference."""
    features = datasets.Features({"audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
                                  "prompt": datasets.Value("string"), "reference": datasets.Value("string")})
    rows = [{"audio": {"bytes": wav_bytes(tone(frequency=frequency)), "path": None}, "prompt": p, "reference": "Paris"}
            for p in prompts]
    return datasets.Dataset.from_list(rows, features=features).cast_column("audio", datasets.Audio(sampling_rate=SAMPLE_RATE))


@pytest.fixture()
def local_copy(tmp_path) -> Path:
    """<root>/sd-qa/ saved with DatasetDict.save_to_disk, splits usa and gbr."""
    root = tmp_path / "voicebench"
    datasets.DatasetDict({"usa": sdqa_split([LOCAL_PROMPT, "How many legs does a spider have?"]),
                          "gbr": sdqa_split([LOCAL_PROMPT], frequency=220.0)}).save_to_disk(str(root / "sd-qa"))
    return root


# --- the shipped sample -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "split"), SAMPLE_SPLITS)
def test_every_sample_split_has_the_voicebench_schema_and_16k_audio(config, split):
    raw = datasets.load_from_disk(str(voicebench.SWITCH.sample_root / config))[split]
    assert raw.features["audio"] == datasets.Audio(sampling_rate=SAMPLE_RATE)
    dataset = voicebench.load_voicebench(config, split, "sample")
    assert set(voicebench.VOICEBENCH_CONFIGS[config].columns) <= set(dataset.column_names) and len(dataset) > 0
    for doc in dataset:
        assert isinstance(doc["prompt"], str) and doc["prompt"].strip()
        assert soundfile.info(io.BytesIO(doc["audio"]["bytes"])).samplerate == SAMPLE_RATE
        wav = load_audio(doc["audio"])
        assert wav.dtype == np.float32 and wav.ndim == 1 and len(wav) > 0.3 * SAMPLE_RATE
        assert np.sqrt(np.mean(wav**2)) > 0.01  # speech, not silence


@pytest.mark.parametrize("config", ["mmsu", "openbookqa"])
def test_sample_mcq_items_list_options_a_to_d_and_answer_with_a_letter(config):
    for split in voicebench.VOICEBENCH_CONFIGS[config].splits:
        for doc in voicebench.load_voicebench(config, split, "sample"):
            assert doc["reference"] in voicebench.MCQ_CHOICES
            lines = doc["prompt"].split("\n")
            assert [line[:3] for line in lines[1:]] == [f"{letter}. " for letter in voicebench.MCQ_CHOICES]


def test_sample_bbh_ids_name_a_scored_task_and_references_are_official_answers():
    for doc in voicebench.load_voicebench("bbh", "test", "sample"):
        tasks = [task for task in voicebench.BBH_TASKS if task in doc["id"]]
        assert len(tasks) == 1 and doc["reference"].lower() in voicebench.BBH_REFERENCES
        assert doc["reference"].startswith("(") == (tasks[0] == "hyperbaton")
    ids = voicebench.load_voicebench("bbh", "test", "sample")["id"]
    assert all(any(task in doc_id for doc_id in ids) for task in voicebench.BBH_TASKS)  # every scored task sampled


def test_sample_sizes_sdqa_repeats_its_questions_in_every_accent_split():
    usa = voicebench.load_voicebench("sd-qa", "usa", "sample")
    assert len(usa) >= 20 and all(doc["reference"].strip() for doc in usa)
    for split in voicebench.SDQA_SPLITS:
        prompts = voicebench.load_voicebench("sd-qa", split, "sample")["prompt"]
        assert len(prompts) >= 3 and set(prompts) <= set(usa["prompt"])
    for domain in voicebench.MMSU_SPLITS:
        assert len(voicebench.load_voicebench("mmsu", domain, "sample")) >= 2
    for config, schema in voicebench.VOICEBENCH_CONFIGS.items():
        if schema.splits == voicebench.TEST_SPLITS:
            assert 4 <= len(voicebench.load_voicebench(config, "test", "sample")) <= 8, config


def test_sdqa_accent_splits_are_spoken_differently():
    usa, gbr = (load_audio(voicebench.load_voicebench("sd-qa", s, "sample")[0]["audio"]) for s in ("usa", "gbr"))
    assert len(usa) != len(gbr) or not np.allclose(usa, gbr)


def test_sample_ifeval_instructions_are_accepted_by_lm_eval_checkers(monkeypatch):
    import langdetect
    import nltk

    monkeypatch.setattr(nltk, "download", lambda *a, **k: False)  # the registry's import would fetch punkt_tab
    from lm_eval.tasks.ifeval import instructions_registry

    langdetect.DetectorFactory.seed = 0
    compliant = {
        101: "Cows pigs and hens.",
        102: "the moon is the bright ball of rock that circles our planet. it shines at night because it reflects "
             "light from the sun.",
        103: "A cat is a small furry animal that people keep as a pet.",
        104: "The sun and water help the flowers in the garden grow.",
        105: "<<The Sea>>\nBlue waves roll in\nBlue waves roll out",
        106: "Elephants are the largest land animals. Is there anything else I can help with?",
        107: "A BANANA IS YELLOW WHEN IT IS RIPE AND READY TO EAT.",
        108: "I love mangoes because they are sweet and juicy.\nP.S. I also like apples.",
    }
    docs = list(voicebench.load_voicebench("ifeval", "test", "sample"))
    assert sorted(doc["key"] for doc in docs) == sorted(compliant)
    for doc in docs:
        assert len(doc["instruction_id_list"]) == len(doc["kwargs"]) >= 1
        for name, kwargs in zip(doc["instruction_id_list"], doc["kwargs"]):
            given = {k: v for k, v in kwargs.items() if v}  # as lm-eval's ifeval utils pass them
            instruction = instructions_registry.INSTRUCTION_DICT[name](name)
            instruction.build_description(**given)
            assert set(given) == set(instruction.get_instruction_args() or {}), name
            assert instruction.check_following(compliant[doc["key"]]), (name, doc["key"])
            assert not instruction.check_following("Yes, OK, Sure, Fine, Right, Good, Great, Nice, Cool, Well, " * 3)


# --- sources and the switch -------------------------------------------------------------------------------------------


def test_local_copy_saved_with_save_to_disk_loads_with_the_same_audio(local_copy):
    dataset = voicebench.load_voicebench("sd-qa", "gbr", local_copy)
    assert dataset["prompt"] == [LOCAL_PROMPT]
    assert dataset.features["audio"] == datasets.Audio(sampling_rate=SAMPLE_RATE, decode=False)
    np.testing.assert_allclose(load_audio(dataset[0]["audio"]), tone(frequency=220.0), atol=1e-4)


@pytest.mark.parametrize("layout", ["usa-00000-of-00001.parquet", "usa/0000.parquet", "usa.parquet"])
def test_local_copy_of_data_files_loads(tmp_path, layout):
    target = tmp_path / "sd-qa" / layout
    target.parent.mkdir(parents=True, exist_ok=True)
    sdqa_split([LOCAL_PROMPT]).to_parquet(str(target))
    sdqa_split(["another split"]).to_parquet(str(tmp_path / "sd-qa" / "gbr-00000-of-00001.parquet"))
    dataset = voicebench.load_voicebench("sd-qa", "usa", tmp_path)
    assert dataset["prompt"] == [LOCAL_PROMPT]
    np.testing.assert_allclose(load_audio(dataset[0]["audio"]), tone(), atol=1e-4)


def test_missing_config_or_split_names_what_the_local_copy_has(local_copy, tmp_path):
    with pytest.raises(DataSourceError, match="no 'ifeval' under .*found: sd-qa"):
        voicebench.load_voicebench("ifeval", "test", local_copy)
    with pytest.raises(DataSourceError, match="no split 'aus'; found splits: gbr, usa"):
        voicebench.load_voicebench("sd-qa", "aus", local_copy)
    (tmp_path / "files" / "sd-qa").mkdir(parents=True)
    sdqa_split(["q"]).to_parquet(str(tmp_path / "files" / "sd-qa" / "zaf-00000-of-00001.parquet"))
    with pytest.raises(DataSourceError, match="no files of split 'usa'.*found splits: zaf"):
        voicebench.load_voicebench("sd-qa", "usa", tmp_path / "files")


def test_local_copy_lacking_a_column_is_refused(tmp_path):
    datasets.DatasetDict({"usa": sdqa_split(["q"]).remove_columns("reference")}).save_to_disk(str(tmp_path / "sd-qa"))
    with pytest.raises(DataSourceError, match=r"lacks columns \['reference'\]"):
        voicebench.load_voicebench("sd-qa", "usa", tmp_path)


def test_unknown_config_or_split_is_refused_before_any_loading():
    with pytest.raises(ValueError, match="unknown VoiceBench config 'sdqa'"):
        voicebench.load_voicebench("sdqa", "usa", "sample")
    with pytest.raises(ValueError, match="no split 'usa'; its splits: test"):
        voicebench.load_voicebench("bbh", "usa", "sample")


def test_hub_unreachable_raises_an_error_that_says_how_to_use_a_local_copy_or_the_sample(monkeypatch):
    offline = ConnectionError("Couldn't reach 'hlt-lab/voicebench' on the Hub (LocalEntryNotFoundError)")

    def unreachable(*args, **kwargs):
        raise offline

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(DataSourceError) as caught:
        voicebench.load_voicebench("sd-qa", "usa", "hub")
    message = str(caught.value)
    for needed in ("hlt-lab/voicebench", "Couldn't reach", "save_to_disk('VB/sd-qa')", '"voicebench_source": "VB"',
                   "LSLM_EVAL_VOICEBENCH=VB", '"voicebench_source": "sample"'):
        assert needed in message
    assert caught.value.__cause__ is offline


def test_switch_precedence_metadata_then_environment_then_hub(monkeypatch, local_copy):
    hub_calls = []

    def fake_hub(path, name, split):
        hub_calls.append((path, name, split))
        return sdqa_split(["from the hub"])

    monkeypatch.setattr(datasets, "load_dataset", fake_hub)
    assert voicebench.voicebench_dataset("sd-qa", "gbr")["gbr"]["prompt"] == ["from the hub"]
    assert hub_calls == [("hlt-lab/voicebench", "sd-qa", "gbr")]
    monkeypatch.setenv("LSLM_EVAL_VOICEBENCH", str(local_copy))
    assert voicebench.voicebench_dataset("sd-qa", "gbr")["gbr"]["prompt"] == [LOCAL_PROMPT]
    from_metadata = voicebench.voicebench_dataset("sd-qa", "gbr", voicebench_source="sample", version=1.0)["gbr"]
    assert LOCAL_PROMPT not in from_metadata["prompt"] and len(from_metadata) >= 3
    assert len(hub_calls) == 1
    monkeypatch.setenv("LSLM_EVAL_VOICEBENCH", str(local_copy / "nowhere"))
    with pytest.raises(DataSourceError, match="from environment variable LSLM_EVAL_VOICEBENCH.*neither 'hub', 'sample'"):
        voicebench.load_voicebench("sd-qa", "gbr")


# --- lm-eval entries: doc_to_audio and ids ----------------------------------------------------------------------------


def test_doc_to_audio_gives_the_recording_undecoded_with_transcript_and_item_id():
    dataset = voicebench.voicebench_dataset("sd-qa", "usa", voicebench_source="sample")["usa"]
    doc = dataset[0]
    (audio,) = voicebench.doc_to_audio(doc)
    assert set(audio) == {"bytes", "path", "transcript", "id"} and audio["bytes"] == doc["audio"]["bytes"]  # undecoded
    wav = load_audio(audio)  # as the model decodes it
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert audio["transcript"] == doc["prompt"] and audio["id"] == doc[ITEM_ID_COLUMN]
    np.testing.assert_array_equal(wav, load_audio(doc["audio"]))


def test_item_ids_are_stable_unique_and_tell_accent_splits_apart():
    def ids(config, split):
        return voicebench.voicebench_dataset(config, split, voicebench_source="sample")[split][ITEM_ID_COLUMN]

    for config, split in SAMPLE_SPLITS:
        first = list(ids(config, split))
        assert first == list(ids(config, split)) and len(set(first)) == len(first)
        assert all(i.startswith(f"voicebench/{config}/{split}/") for i in first)
    usa, gbr = ids("sd-qa", "usa"), ids("sd-qa", "gbr")
    assert usa[0].rsplit("/", 1)[1] == gbr[0].rsplit("/", 1)[1] and usa[0] != gbr[0]  # same question, two accents
    bbh = voicebench.load_voicebench("bbh", "test", "sample")
    assert list(ids("bbh", "test")) == [f"voicebench/bbh/test/{doc_id}" for doc_id in bbh["id"]]
    ifeval = voicebench.load_voicebench("ifeval", "test", "sample")
    assert list(ids("ifeval", "test")) == [f"voicebench/ifeval/test/{key}" for key in ifeval["key"]]


def test_repeated_prompts_get_distinct_ids_in_row_order():
    dataset = sdqa_split(["same question", "other question", "same question"])
    ids = voicebench.item_ids(dataset, "sd-qa", "usa")
    assert ids[2] == ids[0] + "#2" and len(set(ids)) == 3
    assert disambiguate(["a", "b", "a", "a"]) == ["a", "b", "a#2", "a#3"]


def test_lm_eval_loads_a_task_through_the_entries_with_the_source_from_metadata(tmp_path):
    from lm_eval.tasks import TaskManager

    (tmp_path / "utils.py").write_text("from lslm_eval.data.voicebench import doc_to_audio, voicebench_dataset\n")
    (tmp_path / "tiny_sdqa.yaml").write_text(textwrap.dedent("""\
        task: tiny_sdqa_gbr
        custom_dataset: !function utils.voicebench_dataset
        dataset_kwargs: {config: sd-qa, split: gbr}
        test_split: gbr
        output_type: generate_until
        doc_to_text: "<audio>"
        doc_to_audio: !function utils.doc_to_audio
        doc_to_target: reference
        metric_list: [{metric: exact_match, aggregation: mean, higher_is_better: true}]
        metadata: {version: 1.0}
        """))
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False, metadata={"voicebench_source": "sample"})
    task = manager.load(["tiny_sdqa_gbr"])["tasks"]["tiny_sdqa_gbr"]
    task.build_all_requests(limit=2, rank=0, world_size=1)
    docs = list(task.test_docs())
    audio = task.instances[0].args[2]["audio"][0]  # (context, generation kwargs, multimodal arguments)
    assert audio["transcript"] == docs[0]["prompt"] and audio["id"] == docs[0][ITEM_ID_COLUMN]
    assert audio["id"].startswith("voicebench/sd-qa/gbr/") and load_audio(audio).dtype == np.float32


def test_importing_the_data_package_loads_nothing_heavy():
    code = "import sys, lslm_eval.data; print('datasets' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


# --- SpeechMMLU -------------------------------------------------------------------------------------------------------


def test_speechmmlu_sample_has_the_schema_and_every_subject_in_all():
    subjects = speechmmlu.speechmmlu_subjects(speechmmlu.SWITCH.sample_root)
    assert len(subjects) >= 2
    everything = speechmmlu.load_speechmmlu("all", source="sample")
    assert everything.column_names[: len(speechmmlu.SPEECHMMLU_COLUMNS)] == list(speechmmlu.SPEECHMMLU_COLUMNS)
    assert len(everything) == sum(len(speechmmlu.load_speechmmlu(s, source="sample")) for s in subjects)
    assert sorted(set(everything["subject"])) == subjects
    for doc in everything:
        assert doc["answer"] in range(4) and doc["voice_id"].startswith("english_prompt_")
        assert all(f"Option {letter}: " in doc["question_text"] for letter in speechmmlu.ANSWER_LETTERS)
        wav = load_audio(doc["question_audio"])
        assert wav.dtype == np.float32 and len(wav) > SAMPLE_RATE


def test_speechmmlu_entry_and_doc_to_audio():
    dataset = speechmmlu.speechmmlu_dataset("nutrition", speechmmlu_source="sample", version=1.0)["train"]
    (audio,) = speechmmlu.doc_to_audio(dataset[1])
    assert audio["id"] == f"speechmmlu/nutrition/{dataset[1]['id']}" == dataset[1][ITEM_ID_COLUMN]
    assert audio["transcript"] == dataset[1]["question_text"] and audio["bytes"] == dataset[1]["question_audio"]["bytes"]
    assert load_audio(audio).dtype == np.float32 and load_audio(audio).ndim == 1


def speechmmlu_checkout(root: Path, with_audio: bool = True) -> Path:
    """A repository checkout as the hub has it: README configs, rows with repository-relative audio paths."""
    (root / "data").mkdir(parents=True)
    (root / "README.md").write_text(textwrap.dedent("""\
        ---
        configs:
        - config_name: anatomy
          data_files:
          - split: train
            path: data/anatomy.jsonl
        ---
        """))
    rows = [{"id": f"anatomy_{n}", "subject": "anatomy", "question_text": f"Question {n}\nOption A: a\nOption B: b",
             "question_audio": f"audio/anatomy/anatomy_{n}.wav", "voice_id": "english_prompt_001", "answer": n}
            for n in range(2)]
    datasets.Dataset.from_list(rows).to_json(str(root / "data" / "anatomy.jsonl"))
    if with_audio:
        (root / "audio" / "anatomy").mkdir(parents=True)
        for n in range(2):
            soundfile.write(str(root / "audio" / "anatomy" / f"anatomy_{n}.wav"), tone(frequency=300.0 + n), SAMPLE_RATE)
    else:
        (root / "audio.tar.gz").write_bytes(b"")
    return root


def test_speechmmlu_repository_checkout_resolves_audio_paths(tmp_path):
    root = speechmmlu_checkout(tmp_path / "smmlu")
    assert speechmmlu.speechmmlu_subjects(root) == ["anatomy"]
    dataset = speechmmlu.load_speechmmlu("all", source=root)
    assert dataset["id"] == ["anatomy_0", "anatomy_1"]
    np.testing.assert_allclose(load_audio(dataset[1]["question_audio"]), tone(frequency=301.0), atol=1e-4)
    with pytest.raises(DataSourceError, match="no subject 'virology'.*found: anatomy"):
        speechmmlu.load_speechmmlu("virology", source=root)


def test_speechmmlu_checkout_without_unpacked_audio_says_how_to_unpack(tmp_path):
    root = speechmmlu_checkout(tmp_path / "smmlu", with_audio=False)
    with pytest.raises(DataSourceError, match=r"2 audio files .* missing.*tar -xzf audio.tar.gz"):
        speechmmlu.load_speechmmlu("anatomy", source=root)


def test_speechmmlu_hub_unreachable_and_switch_precedence(monkeypatch, tmp_path):
    import huggingface_hub

    def unreachable(**kwargs):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(DataSourceError, match=r"(?s)XiaomiMiMo/SpeechMMLU.*offline.*\"speechmmlu_source\": \"SMMLU\""):
        speechmmlu.load_speechmmlu("anatomy")
    monkeypatch.setenv("LSLM_EVAL_SPEECHMMLU", str(speechmmlu_checkout(tmp_path / "smmlu")))
    assert speechmmlu.speechmmlu_dataset()["train"]["subject"] == ["anatomy", "anatomy"]
    assert "anatomy" not in speechmmlu.speechmmlu_dataset(speechmmlu_source="sample")["train"]["subject"]
