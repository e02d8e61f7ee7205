import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from lslm_eval import cli
from lslm_eval.model import LSLM, LSLMConfig
from lslm_eval.prompt import IGNORE_INDEX
from lslm_eval.trainers import synth
from lslm_eval.trainers.instructions import make_instructions
from lslm_eval.trainers.config import TrainConfig, TrainConfigError
from lslm_eval.trainers.data import TrainingDataError, batch_indices, load_instruction_data, response_token_ids
from lslm_eval.trainers.objective import InstructionObjective
from lslm_eval.trainers.train import LOG_FILE, Trainer, lr_lambda, tensorboard_available

PROMPTS = ["what is the capital of france", "how many legs does a spider have", "answer with one word",
           "the quick brown fox jumps over the lazy dog"]
RESPONSES = ["paris is the capital of france", "eight", "the lazy dog", "answer with one word"]


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """Every Trainer makes an Accelerator; accelerate keeps one process-wide state."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="module")
def parts(tmp_path_factory, save_tiny_parts):
    """A tiny openai-whisper checkpoint, a tiny HF LLM directory, and a manifest of 8 noise clips."""
    root = tmp_path_factory.mktemp("parts")
    save_tiny_parts(root)
    rng = np.random.default_rng(0)
    (root / "data" / "audio").mkdir(parents=True)
    rows = []
    for i in range(8):
        soundfile.write(root / "data" / "audio" / f"{i}.wav", rng.uniform(-0.3, 0.3, 3200 + 640 * i).astype(np.float32), 16000)
        rows.append({"audio": f"audio/{i}.wav", "instruction": PROMPTS[i % 4], "response": RESPONSES[i % 4]})
    write_manifest(root / "data" / "manifest.jsonl", rows)
    return {"encoder": str(root / "whisper.pt"), "llm": str(root / "llm"), "data": str(root / "data" / "manifest.jsonl")}


def write_manifest(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def config(parts, out, **options) -> TrainConfig:
    base = dict(parts, output_dir=str(out), stack=2, adaptor_hidden=24, batch_size=2, max_steps=4, save_every=2, log_every=1,
                lr=1e-2, warmup_steps=1, device="cpu")
    return TrainConfig(**{**base, **options})


def logged(out) -> list[dict]:
    return [json.loads(line) for line in (Path(out) / LOG_FILE).read_text().splitlines()]


# ------------------------------------------------------------------ the objective
def test_two_steps_on_a_repeated_batch_reduce_the_loss(parts, tmp_path):
    rows = [json.loads(line) for line in Path(parts["data"]).read_text().splitlines()][:2]
    for row in rows:
        row["audio"] = str(Path(parts["data"]).parent / row["audio"])
    data = write_manifest(tmp_path / "two.jsonl", rows)  # one batch: every step sees the same two examples
    trainer = Trainer(config({**parts, "data": data}, tmp_path / "out", mode="adaptor", max_steps=3, warmup_steps=0, decay="constant"))
    losses = [trainer.train_step()["loss"] for _ in range(3)]
    assert losses[2] < losses[1] < losses[0]


def test_labels_cover_the_response_and_nothing_else(tiny_lslm, noise_wavs):
    objective = InstructionObjective(tiny_lslm)
    tok = tiny_lslm.tokenizer
    responses = [response_token_ids(tok, text) for text in ("paris", "the quick brown fox")]
    assert responses[0][-1] == tok.eos_token_id
    frames = [tiny_lslm.encoder(noise_wavs[0]), None]  # one spoken, one written instruction
    items = objective.build_items(frames, ["what is the capital of france", "answer with one word"], responses)
    batch = tiny_lslm.collate(items, padding_side="right")
    for row, (item, response) in enumerate(zip(items, responses)):
        labelled = (batch.labels[row] != IGNORE_INDEX).nonzero().flatten().tolist()
        end = len(item)  # right padding: the row's tokens are [0, len(item))
        assert labelled == list(range(end - len(response), end))
        assert batch.labels[row, labelled].tolist() == response
    assert batch.attention_mask[1].sum() < batch.attention_mask.shape[1]  # the shorter row is padded, unlabelled


def test_distillation_is_zero_when_speech_and_text_inputs_agree(parts, tmp_path):
    # all-text input without dropout: the student is its own teacher, so KL = 0
    text_only = Trainer(config(parts, tmp_path / "text", mode="lora", lora_dropout=0.0, text_mix=1.0, distill_weight=1.0)).train_step()
    assert text_only["kl"] == pytest.approx(0.0, abs=1e-6)
    assert text_only["loss"] == pytest.approx(text_only["cross_entropy"], abs=1e-6)

    trainer = Trainer(config(parts, tmp_path / "speech", mode="adaptor", distill_weight=0.5))
    frames, instructions, responses = trainer.micro_batch(0)
    with torch.no_grad():
        loss, ce, kl = trainer.objective(frames, instructions, responses)
        # the same KL by hand: at the positions that predict each response token, sum p_text * log(p_text / p_speech)
        objective, lslm = trainer.objective, trainer.lslm
        speech_items = objective.build_items(frames, instructions, responses)
        text_items = objective.build_items([None] * len(frames), instructions, responses)
        total, count = 0.0, 0
        for speech_item, text_item, response in zip(speech_items, text_items, responses):
            log_p = [torch.log_softmax(lslm(lslm.collate([item])).logits[0], -1) for item in (speech_item, text_item)]
            for k in range(len(response)):
                s_row, t_row = len(speech_item) - len(response) - 1 + k, len(text_item) - len(response) - 1 + k
                total += float((log_p[1][t_row].exp() * (log_p[1][t_row] - log_p[0][s_row])).sum())
                count += 1
    assert float(kl) == pytest.approx(total / count, rel=1e-4) and float(kl) > 0
    assert float(loss) == pytest.approx(float(ce) + 0.5 * float(kl), rel=1e-6)


def test_learning_rate_warms_up_then_decays(parts, tmp_path):
    cfg = TrainConfig(data="x", warmup_steps=4, decay="cosine")
    factor = lr_lambda(cfg, total_steps=12)
    assert [factor(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert factor(8) == pytest.approx(0.5) and factor(12) == pytest.approx(0.0)
    assert lr_lambda(TrainConfig(data="x", warmup_steps=0, decay="linear"), 10)(5) == pytest.approx(0.5)
    Trainer(config(parts, tmp_path / "out", mode="adaptor", warmup_steps=2, decay="linear", max_steps=4)).run()
    assert [r["lr"] for r in logged(tmp_path / "out")] == pytest.approx([5e-3, 1e-2, 1e-2, 5e-3])  # the rate each step used


# ------------------------------------------------------------------ data
def test_batches_are_a_seeded_permutation_sharded_by_rank():
    n, batch, world = 11, 2, 2  # 2 global batches per epoch; 3 examples left over each epoch
    for epoch in range(2):
        steps = range(2 * epoch, 2 * epoch + 2)
        shards = [[batch_indices(n, batch, 5, s, world, rank) for rank in range(world)] for s in steps]
        seen = [i for step in shards for shard in step for i in shard]
        assert all(len(shard) == batch for step in shards for shard in step)
        assert len(set(seen)) == len(seen) == 8  # ranks and steps never share an example within an epoch
    assert batch_indices(n, batch, 5, 0) != batch_indices(n, batch, 5, 5)  # each epoch its own order
    assert batch_indices(n, batch, 5, 3, 2, 1) == batch_indices(n, batch, 5, 3, 2, 1)
    assert batch_indices(n, batch, 5, 0) != batch_indices(n, batch, 6, 0)


def test_dataset_audio_of_any_rate_and_channels_becomes_16k_mono(tmp_path):
    import datasets

    def flac(rate: int, channels: int, seconds: float) -> bytes:
        buffer = io.BytesIO()
        soundfile.write(buffer, np.random.default_rng(rate).uniform(-0.3, 0.3, (int(rate * seconds), channels)), rate, format="FLAC")
        return buffer.getvalue()

    table = datasets.Dataset.from_dict({
        "speech": [{"bytes": flac(44100, 2, 0.5), "path": None}, {"bytes": flac(8000, 1, 0.25), "path": None}],
        "question": ["what is the capital of france", "answer with one word"], "answer": ["paris", "yes"],
    }).cast_column("speech", datasets.Audio())
    table.save_to_disk(str(tmp_path / "ds"))
    data = load_instruction_data(str(tmp_path / "ds"), {"audio": "speech", "instruction": "question", "response": "answer"})
    assert [data.waveform(i).shape for i in range(2)] == [(8000,), (4000,)]  # 0.5 s and 0.25 s at 16 kHz, mono
    assert data[1]["response"] == "yes"
    with pytest.raises(TrainingDataError, match="no audio \\(column 'audio'\\).*map fields with `columns`"):
        load_instruction_data(str(tmp_path / "ds"))


def test_hub_data_is_loaded_by_id_config_and_split(monkeypatch):
    import datasets

    calls = []
    table = datasets.Dataset.from_dict({"audio": ["a.wav"], "instruction": ["say hi"], "response": ["hi"]})
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kw: calls.append((args, kw)) or table)
    assert len(load_instruction_data("hub:org/speech-instruct:train")) == 1
    load_instruction_data("hub:org/speech-instruct:en:validation")
    assert calls == [(("org/speech-instruct", None), {"split": "train"}), (("org/speech-instruct", "en"), {"split": "validation"})]
    with pytest.raises(TrainingDataError, match="hub:ID:SPLIT"):
        load_instruction_data("hub:org/speech-instruct")


def test_bad_configs_say_what_is_wrong(parts, tmp_path):
    with pytest.raises(TrainConfigError, match="unknown training options \\['lerning_rate'\\]"):
        TrainConfig.from_dict({"data": parts["data"], "lerning_rate": 1e-4})
    with pytest.raises(TrainConfigError, match="mode must be one of"):
        TrainConfig(data=parts["data"], mode="qlora")
    with pytest.raises(TrainConfigError, match="text_mix needs mode lora or full"):
        TrainConfig(data=parts["data"], mode="adaptor", text_mix=0.2)
    with pytest.raises(TrainConfigError, match="no training data"):
        TrainConfig()
    with pytest.raises(SystemExit, match="lslm-eval train: decay must be one of"):
        cli.main(["train", "--data", parts["data"], "--decay", "step"])
    assert TrainConfig.from_dict({"data": "x", "lr": "2e-5"}).lr == 2e-5  # YAML's reading of 2e-5
    with pytest.raises(TrainingDataError, match="training data not found: .*nowhere.jsonl"):
        Trainer(config({**parts, "data": str(tmp_path / "nowhere.jsonl")}, tmp_path / "out"))
    audio = str(Path(parts["data"]).parent / "audio" / "0.wav")
    no_response = write_manifest(tmp_path / "bad.jsonl", [{"audio": audio, "instruction": "hi", "response": "yes"},
                                                          {"audio": audio, "instruction": "hi"}])
    with pytest.raises(TrainingDataError, match="bad.jsonl:2: missing or empty \\['response'\\]"):
        Trainer(config({**parts, "data": no_response}, tmp_path / "out"))
    missing_audio = write_manifest(tmp_path / "gone.jsonl", [{"audio": "gone.wav", "instruction": "hi", "response": "yes"}])
    with pytest.raises(TrainingDataError, match="gone.jsonl:1: audio file .*gone.wav does not exist"):
        load_instruction_data(missing_audio)
    with pytest.raises(TrainingDataError, match="cannot fill one batch of 16"):
        Trainer(config(parts, tmp_path / "out", batch_size=16))


# ------------------------------------------------------------------ checkpoints
class Killed(Exception):
    pass


def test_resume_after_a_kill_repeats_the_uninterrupted_run(parts, tmp_path, monkeypatch):
    # LoRA dropout (torch RNG), text mixing (seeded per example) and accumulation all take part
    options = dict(mode="lora", max_steps=5, grad_accum=2, text_mix=0.5, distill_weight=0.5)
    Trainer(config(parts, tmp_path / "whole", **options)).run()

    log_step = Trainer._log

    def killed_after_step_3(self, metrics):
        log_step(self, metrics)
        if metrics["step"] == 3:
            raise Killed

    monkeypatch.setattr(Trainer, "_log", killed_after_step_3)
    with pytest.raises(Killed):
        Trainer(config(parts, tmp_path / "cut", **options)).run()
    monkeypatch.setattr(Trainer, "_log", log_step)
    assert [r["step"] for r in logged(tmp_path / "cut")] == [1, 2, 3]  # step 3 ran past checkpoint-2
    with pytest.raises(TrainConfigError, match="pass --resume"):
        Trainer(config(parts, tmp_path / "cut", **options))
    resumed = Trainer(config(parts, tmp_path / "cut", **options), resume=True)
    assert resumed.step == 2
    resumed.run()

    whole, cut = logged(tmp_path / "whole"), logged(tmp_path / "cut")
    assert [r["step"] for r in cut] == [1, 2, 3, 4, 5]
    assert [(r["loss"], r["kl"], r["lr"]) for r in cut] == [(r["loss"], r["kl"], r["lr"]) for r in whole]
    assert len({r["loss"] for r in whole}) == 5
    for name in ("adaptor.safetensors", "adapter/adapter_model.safetensors"):
        assert (tmp_path / "whole" / "checkpoint-5" / name).read_bytes() == (tmp_path / "cut" / "checkpoint-5" / name).read_bytes()


@pytest.mark.parametrize("mode, written", [("lora", "adapter"), ("full", "llm"), ("adaptor", None)])
def test_checkpoints_load_into_lm_eval_and_from_pretrained_with_the_same_outputs(parts, tmp_path, noise_wavs, mode, written):
    from lslm_eval.plugins.lslm import LSLMEval

    trainer = Trainer(config(parts, tmp_path / "out", mode=mode, max_steps=2, lora_dropout=0.0))
    path = trainer.run()
    assert path == tmp_path / "out" / "checkpoint-2"
    assert sorted(p.name for p in path.iterdir() if p.is_dir()) == ([written] if written else [])
    assert json.loads((path / "trainer_state.json").read_text())["step"] == 2

    def logits(model: LSLM) -> torch.Tensor:
        items = model.build_items(["<audio>", "what is the capital of france"], [noise_wavs[0], None])
        with torch.no_grad():
            return model(model.collate(items)).logits

    trained = trainer.lslm.eval()
    fresh = LSLM.from_pretrained(path, dtype="float32")
    harness = LSLMEval(checkpoint=str(path), dtype="float32", device="cpu", batch_size=2)
    torch.testing.assert_close(logits(fresh), logits(trained))
    torch.testing.assert_close(logits(harness.model), logits(trained))
    untrained = LSLM.build(LSLMConfig(encoder=parts["encoder"], llm=parts["llm"], stack=2, adaptor_hidden=24), dtype="float32", seed=0)
    assert not torch.allclose(logits(untrained), logits(trained))


def test_two_processes_under_accelerate_share_the_batch(parts, tmp_path):
    # identical responses make each process's mean loss the global mean, so 2 x 2 examples match 1 x 4
    rows = [json.loads(line) for line in Path(parts["data"]).read_text().splitlines()]
    data = write_manifest(Path(parts["data"]).parent / "same.jsonl", [{**row, "response": "paris"} for row in rows])
    options = {**parts, "data": data, "output_dir": str(tmp_path / "two"), "stack": 2, "adaptor_hidden": 24, "mode": "adaptor",
               "batch_size": 2, "max_steps": 2, "save_every": 2, "log_every": 1, "lr": 0.05, "warmup_steps": 0, "device": "cpu"}
    (tmp_path / "train.json").write_text(json.dumps(options))  # JSON is YAML
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # --multi_gpu launches through torchrun; with device cpu each process joins a gloo group
    launch = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
              "-m", "lslm_eval.cli", "train", str(tmp_path / "train.json")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("last checkpoint:") == 1  # only the main process reports and writes
    assert [p.name for p in (tmp_path / "two").iterdir() if p.name.startswith("checkpoint")] == ["checkpoint-2"]
    state = json.loads((tmp_path / "two" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["num_processes"] == 2 and state["micro_batches_per_epoch"] == 2
    assert len(torch.load(tmp_path / "two" / "checkpoint-2" / "rng_state.pt", weights_only=True)) == 2
    two = logged(tmp_path / "two")
    assert [r["step"] for r in two] == [1, 2]

    one = Trainer(TrainConfig(**{**options, "output_dir": str(tmp_path / "one"), "batch_size": 4}))
    one.run()
    assert [r["loss"] for r in logged(tmp_path / "one")] == pytest.approx([r["loss"] for r in two], rel=1e-6)
    assert [r["lr"] for r in logged(tmp_path / "one")] == [r["lr"] for r in two] == [0.05, 0.025]  # one scheduler step per step


def test_losses_go_to_tensorboard_when_it_is_installed(parts, tmp_path):
    Trainer(config(parts, tmp_path / "out", mode="adaptor", max_steps=1)).run()
    events = list((tmp_path / "out").glob("tensorboard/**/events.out.tfevents.*"))
    assert bool(events) == tensorboard_available()
    assert len(logged(tmp_path / "out")) == 1


# ------------------------------------------------------------------ training data building
def test_word_error_rate():
    assert synth.word_error_rate("The cat sat.", "the cat sat") == 0.0
    assert synth.word_error_rate("the cat sat on the mat", "the cat sit on mat") == pytest.approx(2 / 6)
    assert synth.word_error_rate("a b", "a b c d") == 1.0  # insertions count
    assert synth.word_error_rate("", "") == 0.0 and synth.word_error_rate("", "noise") == 1.0
    assert synth.word_error_rate("What is five plus three?", "What is 5 plus 3?") == pytest.approx(0.4)
    assert synth.word_error_rate("What is five plus three?", "What is 5 plus 3?", synth.english_normalizer()) == 0.0


def test_synthesize_dataset_speaks_answers_and_filters_by_wer(tmp_path):
    rows = [{"instruction": "what is the capital of france", "response": "paris"},
            {"instruction": "how many legs does a spider have"},
            {"instruction": "name a color"},
            {"instruction": "tell me a joke", "response": ""}]
    spoken = {}

    def tts(text: str) -> np.ndarray:
        spoken[text] = np.sin(np.arange(1600 + 160 * len(text)) / 7).astype(np.float32) * 0.3
        return spoken[text]

    def transcribe(wav: np.ndarray) -> str:
        text = next(t for t, w in spoken.items() if w is wav)
        return "name a collar" if text == "name a color" else text.upper()  # one word in three wrong

    answers = {"how many legs does a spider have": "eight", "name a color": "red", "tell me a joke": " "}
    result = synth.synthesize_dataset(rows, tmp_path / "out", tts, respond=lambda texts: [answers[t] for t in texts],
                                      transcribe=transcribe, max_wer=0.1)
    manifest = [json.loads(line) for line in result.manifest.read_text().splitlines()]
    assert (result.kept, result.dropped, result.no_response) == (2, 1, 1)
    assert [(r["instruction"], r["response"], r["wer"]) for r in manifest] == [
        ("what is the capital of france", "paris", 0.0), ("how many legs does a spider have", "eight", 0.0)]
    wav, rate = soundfile.read(tmp_path / "out" / manifest[1]["audio"], dtype="float32")
    assert rate == 16000 and np.abs(wav - spoken["how many legs does a spider have"]).max() < 1e-3
    assert not list((tmp_path / "out").glob(".*partial"))
    with pytest.raises(ValueError, match="needs a transcriber"):
        synth.synthesize_dataset(rows, tmp_path / "again", tts, max_wer=0.1)


def test_template_instructions_are_distinct_deterministic_and_exclude_eval_items():
    first = make_instructions(40, seed=1)
    assert first == make_instructions(40, seed=1) and len(set(first)) == 40
    assert make_instructions(40, seed=2) != first
    assert first[0] not in make_instructions(40, seed=1, exclude={first[0].lower()})


def test_data_instructions_leave_out_the_shipped_evaluation_sample(tmp_path):
    from lslm_eval.data.voicebench import sample_prompts

    held_out = sample_prompts()
    everything = {q.lower() for q in make_instructions(3000, seed=0)}
    assert "what is the capital of japan?" in held_out and held_out & everything  # the templates can produce them
    out = tmp_path / "instructions.jsonl"
    assert cli.main(["data", "instructions", "3000", str(out)]) == 0
    written = [json.loads(line)["instruction"].lower() for line in out.read_text().splitlines()]
    assert len(written) == 3000 and not held_out & set(written)
    cli.main(["data", "instructions", "3000", str(out), "--keep_eval_sample"])
    assert held_out & {json.loads(line)["instruction"].lower() for line in out.read_text().splitlines()}
