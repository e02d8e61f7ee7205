"""scripts/ci_gap_gate.sh (the steps of examples/github-actions/gap-gate.yml) end to end on tiny checkpoints."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "ci_gap_gate.sh"
WORKFLOW = REPO / "examples" / "github-actions" / "gap-gate.yml"


def test_the_workflow_installs_cpu_torch_first_and_runs_the_script():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["gap-gate"]["steps"]
    runs = [step.get("run", "") for step in steps]
    install = next(i for i, run in enumerate(runs) if "setup.sh" in run)
    assert "download.pytorch.org/whl/cpu" in runs[install].split("setup.sh")[0]  # before anything can pull torch
    assert any(run.strip() == "bash scripts/ci_gap_gate.sh" for run in runs[install:])
    assert True in workflow and "pull_request" in workflow[True]  # YAML reads `on:` as True


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory, save_tiny_parts):
    from lslm_eval.model import LSLM, LSLMConfig

    root = tmp_path_factory.mktemp("ci")
    save_tiny_parts(root)
    config = LSLMConfig(encoder=str(root / "whisper.pt"), llm=str(root / "llm"), stack=2, adaptor_hidden=24)
    for step in (1, 2):
        LSLM.build(config, dtype="float32", seed=step).save_pretrained(root / f"checkpoint-{step}")
    return root


def run_gate(root: Path, out: Path, **env):
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                   "CANDIDATE_ARGS": f"checkpoint={root / 'checkpoint-2'},dtype=float32",
                   "BASELINE_ARGS": f"checkpoint={root / 'checkpoint-1'},dtype=float32",
                   "LIMIT": "2", "MAX_GEN_TOKS": "3", "BATCH_SIZE": "2", "OUT": str(out), **env}
    return subprocess.run(["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=900)


def test_the_gate_script_scores_both_sides_and_compares(two_checkpoints, tmp_path):
    done = run_gate(two_checkpoints, tmp_path / "ci", TOLERANCE="100", TOLERANCE_SE="0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Paired GAP test" in done.stdout and "| gap" in done.stdout
    assert (tmp_path / "ci" / "leaderboard" / "leaderboard.json").is_file()
    # a baseline given as a leaderboard JSON is not evaluated again; one whose GAP was 50 points smaller fails the gate
    board = json.loads((tmp_path / "ci" / "leaderboard" / "leaderboard.json").read_text())
    gaps = [name for name in board["metrics"] if name.rsplit("/", 1)[-1] == "gap"]
    assert gaps
    for name in gaps:
        board["metrics"][name]["value"] -= 50
    (tmp_path / "better.json").write_text(json.dumps(board))
    failed = run_gate(two_checkpoints, tmp_path / "ci2", BASELINE=str(tmp_path / "better.json"), TOLERANCE="1", TOLERANCE_SE="0")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert not (tmp_path / "ci2" / "baseline").exists() and "fail" in failed.stdout
