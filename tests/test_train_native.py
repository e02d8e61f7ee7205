"""`lslm-eval train --hf DIR`: the trainer runs a transformers-native audio LM through its backend
(LoRA on the text decoder, the projector trainable, the audio encoder frozen) and its checkpoint
loads back into the lm-eval model by hf=CHECKPOINT with the trained outputs."""

import copy
import json

import pytest
import soundfile
import torch

from native_parts import TRANSCRIPTS, TURNS, wavs
from test_backend_qwen2_audio import parts  # noqa: F401  (the module-scoped fixture)


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def test_train_hf_directory_and_score_its_checkpoint(parts, tmp_path):  # noqa: F811
    from lslm_eval.cli.train import config_and_overrides
    from lslm_eval.plugins.lslm import LSLMEval
    from lslm_eval.trainers.config import load_train_config
    from lslm_eval.trainers.train import Trainer

    model, processor = parts
    copy.deepcopy(model).save_pretrained(tmp_path / "base")
    processor.save_pretrained(tmp_path / "base")
    (tmp_path / "audio").mkdir()
    rows = []
    for i, (clip, text) in enumerate(zip(wavs(seconds=(0.6, 0.9, 0.7, 1.1)), TRANSCRIPTS * 2)):
        soundfile.write(tmp_path / "audio" / f"{i}.wav", clip, 16000)
        rows.append({"audio": str(tmp_path / "audio" / f"{i}.wav"), "instruction": text, "response": "paris"})
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    overrides = ["--hf", str(tmp_path / "base"), "--data", str(tmp_path / "data.jsonl"), "--output_path", str(tmp_path / "out"),
                 "--batch_size", "2", "--max_steps", "2", "--save_every", "2", "--lr", "1e-2", "--warmup_steps", "0",
                 "--lora_dropout", "0", "--device", "cpu"]
    trainer = Trainer(load_train_config(*config_and_overrides(None, overrides)))
    before = [p.detach().clone() for p in trainer.lslm.speech_parameters()]
    encoder_before = {n: p.detach().clone() for n, p in trainer.lslm.model.named_parameters() if "audio_tower" in n}
    path = trainer.run()
    assert sorted(p.name for p in path.iterdir()) == ["adapter", "backend.json", "optimizer.pt", "rng_state.pt",
                                                      "trained.safetensors", "trainer_state.json"]
    assert any(not torch.equal(b, p) for b, p in zip(before, trainer.lslm.speech_parameters()))  # the projector trained
    assert all(torch.equal(p, encoder_before[n]) for n, p in trainer.lslm.model.named_parameters() if "audio_tower" in n)
    harness = LSLMEval(hf=str(path), device="cpu", batch_size=2, dtype="float32")
    trained = trainer.lslm.eval()

    def logits(backend):
        with torch.no_grad():
            return backend(backend.collate(backend.build_items(TURNS, wavs(), TRANSCRIPTS))).logits

    torch.testing.assert_close(logits(harness.model), logits(trained))
    assert harness.model.config.hf == str(tmp_path / "base")


def test_the_probe_verb_takes_hf(parts, tmp_path):  # noqa: F811
    """`lslm-eval probe --model_args hf=DIR` on the shipped sample: the results name the model by hf
    (calibrate and interventions record the same `LSLMEval.model_parts()`)."""
    from lslm_eval.cli import main

    model, processor = parts
    model.save_pretrained(tmp_path / "base")
    processor.save_pretrained(tmp_path / "base")
    common = ["--tasks", "voicebench_sdqa", "--model_args", f"hf={tmp_path / 'base'},dtype=float32", "--device", "cpu",
              "--limit", "2", "--metadata", '{"voicebench_source": "sample"}']
    assert main(["probe", *common, "--output_path", str(tmp_path / "probe")]) == 0
    result = json.loads((tmp_path / "probe" / "voicebench_sdqa" / "probe.json").read_text())
    assert result["info"]["hf"] == str(tmp_path / "base") and "encoder" not in result["info"]
