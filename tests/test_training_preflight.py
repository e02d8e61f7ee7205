"""Training data pre-flight: every problem of the data is listed in one error before step 1."""

import io
import json

import numpy as np
import pytest
import soundfile

from lslm_eval.trainers.config import TrainConfig
from lslm_eval.trainers.data import TrainingDataError, load_instruction_data, preflight


def write_wav(path, seconds=0.5):
    t = np.arange(int(seconds * 16000)) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    return path.name


def test_the_manifest_lists_all_its_problems_at_once(tmp_path):
    good = write_wav(tmp_path / "good.wav")
    lines = [json.dumps({"audio": good, "instruction": "hi", "response": "yes"}).encode(),
             json.dumps({"audio": good, "instruction": "hi", "response": " "}).encode(),
             "{\"audio\": \"good.wav\", \"instruction\": \"caf\u00e9\", \"response\": \"x\"}".encode("latin-1"),
             b"{not json"]
    (tmp_path / "m.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(TrainingDataError, match=r"3 problem\(s\)") as err:
        load_instruction_data(str(tmp_path / "m.jsonl"))
    message = str(err.value)
    assert "m.jsonl:2: missing or empty ['response']" in message
    assert "m.jsonl:3: not UTF-8" in message and "m.jsonl:4: not JSON" in message


def test_preflight_decodes_every_audio_and_names_each_bad_one(tmp_path):
    good = write_wav(tmp_path / "good.wav")
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEnot really")
    short = write_wav(tmp_path / "short.wav", seconds=0.01)
    rows = [{"audio": a, "instruction": "hi", "response": "yes"} for a in (good, "broken.wav", short, good)]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_instruction_data(str(tmp_path / "m.jsonl"))  # the manifest itself is fine
    with pytest.raises(TrainingDataError, match=r"2 problem\(s\)") as err:
        preflight(data, progress=False)
    message = str(err.value)
    assert "m.jsonl:2: audio" in message and "broken.wav" in message
    assert "m.jsonl:3: audio" in message and "shorter than the 100 ms minimum" in message
    preflight(load_instruction_data(_manifest(tmp_path, [rows[0], rows[3]])), progress=False)


def _manifest(tmp_path, rows):
    path = tmp_path / "ok.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_the_trainer_refuses_bad_data_before_step_1(tmp_path, tiny_checkpoint):
    from lslm_eval.trainers.train import Trainer

    good = write_wav(tmp_path / "good.wav")
    (tmp_path / "broken.wav").write_bytes(io.BytesIO(b"\x00" * 64).getvalue())
    rows = [{"audio": a, "instruction": "hi", "response": "yes"} for a in (good, "broken.wav", good, good)]
    config = TrainConfig(data=_manifest(tmp_path, rows), encoder=str(tmp_path / "whisper.pt"), llm=str(tmp_path / "llm"),
                         output_dir=str(tmp_path / "out"), stack=2, adaptor_hidden=24, batch_size=2, max_steps=1, device="cpu")
    with pytest.raises(TrainingDataError, match="ok.jsonl:2: audio .*broken.wav"):
        Trainer(config)
    assert not (tmp_path / "out" / "train_log.jsonl").exists()


def test_resume_survives_a_half_written_log_line_and_removes_killed_saves(tmp_path, tiny_checkpoint):
    from lslm_eval.trainers.train import LOG_FILE, Trainer

    good = write_wav(tmp_path / "good.wav")
    rows = [{"audio": good, "instruction": "hi", "response": "yes"}] * 4
    options = dict(data=_manifest(tmp_path, rows), encoder=str(tmp_path / "whisper.pt"), llm=str(tmp_path / "llm"),
                   output_dir=str(tmp_path / "out"), stack=2, adaptor_hidden=24, batch_size=2, save_every=1, log_every=1,
                   device="cpu")
    Trainer(TrainConfig(**options, max_steps=1)).run()
    out = tmp_path / "out"
    with open(out / LOG_FILE, "a") as log:
        log.write('{"step": 2, "loss": 0.5')  # a kill in the middle of writing step 2's line
    staging = out / ".checkpoint-2.k1ll3d"  # a kill in the middle of saving checkpoint-2
    staging.mkdir()
    (staging / "adaptor.safetensors").write_bytes(b"partial")
    Trainer(TrainConfig(**options, max_steps=2), resume=True).run()
    assert [json.loads(line)["step"] for line in (out / LOG_FILE).read_text().splitlines()] == [1, 2]
    assert not staging.exists() and sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint")) == [
        "checkpoint-1", "checkpoint-2"]
