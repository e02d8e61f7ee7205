"""Bad recordings: each is refused by a stated rule, named by task, doc and item, and (bad_audio=skip) costs only
its own item, in both modalities, without a score of 0."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from lslm_eval.audio import MIN_CLIP_SECONDS, SAMPLE_RATE, AudioError, load_audio, undecoded

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
PAIR = ["voicebench_sdqa", "voicebench_sdqa_text"]


def wav_bytes(seconds=0.5, rate=SAMPLE_RATE) -> bytes:
    out = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(out, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


@pytest.mark.parametrize("audio, message", [
    ({"array": np.zeros(0, np.float32), "sampling_rate": SAMPLE_RATE}, "empty"),
    ({"array": np.full(8000, np.nan, np.float32), "sampling_rate": SAMPLE_RATE}, "NaN"),
    ({"bytes": b"this is not audio at all", "path": None}, "cannot decode audio"),
    (None, "missing"),
    ({"array": np.zeros(int(0.015 * SAMPLE_RATE), np.float32), "sampling_rate": SAMPLE_RATE}, r"15.0 ms long, shorter than the 100 ms"),
])
def test_each_kind_of_bad_recording_is_refused_with_its_reason(audio, message):
    with pytest.raises(AudioError, match=message):
        load_audio(audio)
    entry = undecoded(audio)  # what doc_to_audio hands to the model, which decodes it: the run is not aborted
    assert entry.get("array") is None
    with pytest.raises(AudioError, match=message):
        load_audio(entry)


def test_a_truncated_wav_is_refused_and_a_streaming_one_accepted():
    data = wav_bytes()
    assert load_audio(data).shape == (8000,)
    with pytest.raises(AudioError, match=r"truncated WAV <bytes>: its header declares 16000 bytes of audio, the file holds 8000"):
        load_audio(data[: len(data) - 8000])
    streaming = bytearray(data)
    offset = streaming.index(b"data")
    streaming[offset + 4 : offset + 8] = (0xFFFFFFFF).to_bytes(4, "little")  # "length unknown", as streaming writers put it
    assert load_audio(bytes(streaming)).shape == (8000,)


def test_the_shortest_accepted_clip_reaches_the_model(tiny_lslm):
    wav = load_audio({"array": np.full(int(MIN_CLIP_SECONDS * SAMPLE_RATE), 0.1, np.float32), "sampling_rate": SAMPLE_RATE})
    (embedding,) = tiny_lslm.embed_speech([wav])
    assert embedding.shape[0] >= 1


@pytest.fixture(scope="module")
def manager():
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata={"voicebench_source": "sample"})


@pytest.fixture()
def first_item_garbled(monkeypatch):
    """The sd-qa sample's doc 0 recording replaced by bytes no decoder reads; returns its item id."""
    from lslm_eval.data import voicebench

    first = voicebench.voicebench_dataset("sd-qa", "usa", voicebench_source="sample")["usa"][0]
    real = voicebench.undecoded

    def garbled(audio):
        return real({"bytes": b"garbage" * 10, "path": None} if audio.get("bytes") == first["audio"]["bytes"] else audio)

    monkeypatch.setattr(voicebench, "undecoded", garbled)
    return first[voicebench.ITEM_ID_COLUMN]


def run(manager, checkpoint, extra=""):
    from lm_eval.evaluator import simple_evaluate

    return simple_evaluate(model="lslm", model_args=f"checkpoint={checkpoint},dtype=float32,device=cpu{extra}", tasks=PAIR,
                           task_manager=manager, limit=3, gen_kwargs="max_gen_toks=3", bootstrap_iters=0, log_samples=True)


def test_a_bad_recording_stops_the_run_naming_task_doc_and_item(manager, tiny_checkpoint, first_item_garbled):
    with pytest.raises(AudioError, match=rf"1 unusable recording.*bad_audio=skip.*\n  task voicebench_sdqa, doc 0, item "
                                         rf"{first_item_garbled}: cannot decode audio <bytes>"):
        run(manager, tiny_checkpoint)


def test_bad_audio_skip_leaves_the_item_out_of_both_modalities_and_lists_it(manager, tiny_checkpoint, first_item_garbled, tmp_path):
    from lslm_eval.report.samples import read_sample_log

    results = run(manager, tiny_checkpoint, ",bad_audio=skip")
    skipped = results["config"]["skipped_items"]
    assert results["config"]["bad_audio"] == "skip"
    assert sorted((s["task"], s["doc_id"], s["item_id"]) for s in skipped) == [
        ("voicebench_sdqa", 0, first_item_garbled), ("voicebench_sdqa_text", 0, first_item_garbled)]
    assert "cannot decode audio" in skipped[0]["reason"]
    for task in PAIR:
        samples = sorted(results["samples"][task], key=lambda s: s["doc_id"])
        assert samples[0]["metrics"] == [] and all(s["metrics"] for s in samples[1:])  # listed, not scored
        kept = [s["pedant"] for s in samples[1:]]
        assert results["results"][task]["pedant,none"] == pytest.approx(np.mean(kept))  # the mean of 2 items, not 3
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(json.dumps(s, default=str) for s in results["samples"]["voicebench_sdqa"]))
    assert len(read_sample_log(path, "pedant", "none")) == 2  # the leaderboard reads the other items only


def test_bad_audio_takes_only_stop_or_skip(tiny_checkpoint):
    from lslm_eval.plugins.lslm import LSLMEval, ModelArgError

    with pytest.raises(ModelArgError, match="bad_audio must be one of stop, skip, got 'ignore'"):
        LSLMEval(checkpoint=str(tiny_checkpoint), dtype="float32", bad_audio="ignore")


def test_use_cache_serves_a_second_run_of_speech_and_text_keyed_by_the_audio(manager, tiny_checkpoint, tmp_path, monkeypatch):
    from lm_eval.api.model import hash_args
    from lm_eval.evaluator import simple_evaluate

    from lslm_eval.plugins.lslm import LSLMEval

    generated = []
    real = LSLMEval._generate_until

    def counting(self, requests, disable_tqdm=False):
        generated.extend(requests)
        return real(self, requests, disable_tqdm)

    monkeypatch.setattr(LSLMEval, "_generate_until", counting)

    def run_cached():
        return simple_evaluate(model="lslm", model_args=f"checkpoint={tiny_checkpoint},dtype=float32,device=cpu", tasks=PAIR,
                               task_manager=manager, limit=2, gen_kwargs="max_gen_toks=3", bootstrap_iters=0,
                               log_samples=True, use_cache=str(tmp_path / "cache" / "lslm"))

    first = run_cached()
    speech = [r for r in generated if r.task_name == "voicebench_sdqa"]
    assert len(generated) == 4 and len(speech) == 2
    assert hash_args("generate_until", speech[0].args) != hash_args("generate_until", speech[1].args)  # "<audio>" both: the audio keys
    generated.clear()
    second = run_cached()
    assert generated == []  # every request came from the cache
    for task in PAIR:
        assert second["results"][task] == first["results"][task]
        assert [s["resps"] for s in second["samples"][task]] == [s["resps"] for s in first["samples"][task]]


def test_the_probe_verb_names_a_bad_recording_too(manager, first_item_garbled):
    from lslm_eval.paired import load_paired_items

    task = manager.load(["voicebench_sdqa"])["tasks"]["voicebench_sdqa"]
    with pytest.raises(AudioError, match=rf"task voicebench_sdqa, doc 0, item {first_item_garbled}: cannot decode audio"):
        load_paired_items(task, limit=2)
