"""`accelerate launch -m lm_eval --model lslm` with two CPU processes gives what one process gives."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

TASK = "tiny_dp_qa"
TASK_YAML = f"""
task: {TASK}
custom_dataset: !function tiny_dp.dataset
test_split: test
output_type: generate_until
doc_to_text: "<audio>"
doc_to_audio: !function tiny_dp.doc_to_audio
doc_to_target: reference
generation_kwargs:
  until: []
  max_gen_toks: 6
  do_sample: false
process_results: !function tiny_dp.process
metric_list:
  - metric: chars
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""
TASK_CODE = '''
import os

import datasets
import numpy as np

QUESTIONS = ["what is the capital of france", "how many legs does a spider have", "answer with one word",
             "the quick brown fox", "paris is the capital of france"]


def dataset(**kwargs):
    return {"test": datasets.Dataset.from_list([{"prompt": q, "reference": "paris", "seed": i} for i, q in enumerate(QUESTIONS)])}


def doc_to_audio(doc):
    wav = np.random.default_rng(doc["seed"]).uniform(-0.3, 0.3, 4800 + 1600 * doc["seed"]).astype(np.float32)
    return [{"array": wav, "sampling_rate": 16000, "transcript": doc["prompt"], "id": f"dp-{doc['seed']}"}]


def process(doc, results):
    if os.environ.get("TINY_DP_RANKS"):  # which process scored this doc
        with open(os.environ["TINY_DP_RANKS"], "a") as ranks:
            ranks.write(os.environ.get("RANK", "-") + "\\n")
    return {"chars": float(len(results[0]))}
'''


@pytest.fixture()
def checkpoint(tmp_path, save_tiny_parts):
    from lslm_eval.model import LSLM, LSLMConfig

    whisper_file, llm_dir = save_tiny_parts(tmp_path, "tiny-whisper.pt", "tiny-llm")
    model = LSLM.build(LSLMConfig(encoder=str(whisper_file), llm=str(llm_dir), stack=2, adaptor_hidden=24), dtype="float32", seed=3)
    return model.save_pretrained(tmp_path / "ckpt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def task_folder(tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "tiny_dp.yaml").write_text(TASK_YAML)
    (tasks / "tiny_dp.py").write_text(TASK_CODE)
    return tasks


def run_here(tmp_path, checkpoint) -> tuple[dict, dict, dict]:
    """One process: lm-eval's evaluator in this interpreter."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    probe = tmp_path / "probe-one"
    out = simple_evaluate(model="lslm", model_args=f"checkpoint={checkpoint},dtype=float32,probe={probe}", batch_size=2,
                          device="cpu", tasks=[TASK], task_manager=TaskManager(include_path=str(task_folder(tmp_path))),
                          log_samples=True)
    samples = {row["doc_id"]: row["resps"] for row in out["samples"][TASK]}
    results = json.loads(json.dumps(out["results"][TASK], default=str))
    return samples, results, json.loads((probe / "probe.json").read_text())


def run(tmp_path, checkpoint, name: str, processes: int) -> tuple[dict, dict, dict]:
    """`accelerate launch` with `processes` CPU processes."""
    tasks = task_folder(tmp_path)
    out, probe = tmp_path / f"out-{name}", tmp_path / f"probe-{name}"
    launcher = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()), "-m", "lm_eval"]
    command = launcher + ["--model", "lslm", "--model_args", f"checkpoint={checkpoint},dtype=float32,probe={probe}", "--batch_size", "2", "--device", "cpu",
                          "--include_path", str(tasks), "--tasks", TASK, "--log_samples", "--output_path", str(out)]
    # `--cpu` with several processes starts ONE process unless MPI is there; `--multi_gpu` with
    # ACCELERATE_USE_CPU starts torchrun processes that join a gloo group on the CPU.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "ACCELERATE_USE_CPU": "true",
           "TINY_DP_RANKS": str(tmp_path / "ranks.txt")}
    (tmp_path / "ranks.txt").unlink(missing_ok=True)
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    (samples_file,) = out.rglob(f"samples_{TASK}_*.jsonl")
    # lm-eval pads the shorter rank's share with copies of its last request and appends the copies'
    # answers to that request's resps (as for its own `hf` model): keep each request's first answer
    samples = {row["doc_id"]: [resps[:1] for resps in row["resps"]] for row in map(json.loads, samples_file.read_text().splitlines())}
    (results_file,) = out.rglob("results_*.json")
    results = json.loads(results_file.read_text())["results"][TASK]
    ranks = set((tmp_path / "ranks.txt").read_text().split())
    assert ranks == {str(r) for r in range(processes)}, f"documents were scored by ranks {sorted(ranks)}, not {processes} processes"
    return samples, results, json.loads((probe / "probe.json").read_text())


def test_two_processes_give_the_results_and_probe_statistics_of_one(tmp_path, checkpoint):
    one_samples, one_results, one_probe = run_here(tmp_path, checkpoint)
    two_samples, two_results, two_probe = run(tmp_path, checkpoint, "two", 2)
    assert sorted(one_samples) == sorted(two_samples) == [0, 1, 2, 3, 4]
    assert one_samples == two_samples
    assert one_results == two_results
    # every item probed exactly once: rank 1's padding copy of a request is not counted twice
    assert one_probe["n_items"] == two_probe["n_items"] == 5
    assert one_probe["n_tokens"] == two_probe["n_tokens"]
    for section, key in (("sequence", "cos"), ("aps", "cos_per_layer"), ("consistency", "per_layer")):
        assert two_probe[section][key] == pytest.approx(one_probe[section][key], rel=1e-5, abs=1e-6)
    one_cka, two_cka = one_probe["cka"], two_probe["cka"]
    assert json.dumps(one_cka, sort_keys=True).count(",") == json.dumps(two_cka, sort_keys=True).count(",")
