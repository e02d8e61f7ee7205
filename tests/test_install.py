"""Contributors' installs, in fresh interpreters: `pip install -e .` and a checkout on PYTHONPATH both register
`lslm` and the tasks with lm-eval, with no traceback at start-up."""

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
CHECK = """
import json, sys
assert "lm_eval" not in sys.modules
from lm_eval.api.registry import get_model
from lm_eval.tasks.manager import TaskManager
import lslm_eval
from lslm_eval.plugins import startup
print(json.dumps({"lslm": get_model("lslm").__name__, "lslm_eval": lslm_eval.__file__, "tasks": str(startup.TASKS_DIR),
                  "task_manager_patched": getattr(TaskManager.__init__, "_lslm_eval", False)}))
"""


def fresh_python(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def assert_registered_from_the_checkout(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "Error processing line" not in done.stderr, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["lslm"] == "LSLMEval" and found["task_manager_patched"] is True
    assert Path(found["lslm_eval"]).is_relative_to(CHECKOUT) and Path(found["tasks"]) == CHECKOUT / "tasks"


def test_a_checkout_on_pythonpath_starts_cleanly_and_registers_itself(tmp_path):
    assert_registered_from_the_checkout(fresh_python(["-c", CHECK], tmp_path, {"PYTHONPATH": str(CHECKOUT)}))


def test_an_editable_install_registers_lslm_and_the_tasks(tmp_path):
    """The editable wheel setuptools builds for `pip install -e .` (PEP 660), installed into a site directory
    beside every dependency of this venv but its regular lslm_eval copy."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    built = fresh_python(["-c", f"from setuptools import build_meta; print(build_meta.build_editable({str(wheels)!r}))"], CHECKOUT)
    assert built.returncode == 0, built.stderr[-3000:]
    site = tmp_path / "site"
    with zipfile.ZipFile(next(wheels.glob("*.whl"))) as wheel:
        wheel.extractall(site)
    assert (site / "lslm_eval-lm_eval.pth").is_file()
    deps = tmp_path / "deps"
    deps.mkdir()
    packages = Path(sysconfig.get_paths()["purelib"])
    for entry in packages.iterdir():
        if not entry.name.startswith(("lslm_eval", "lslm-eval", "__editable__")):
            (deps / entry.name).symlink_to(entry)
    code = f"import site; site.addsitedir({str(deps)!r}); site.addsitedir({str(site)!r})\n" + CHECK
    assert_registered_from_the_checkout(fresh_python(["-S", "-c", code], tmp_path))


def test_setup_sh_stops_when_pip_fails(tmp_path):
    """scripts/setup.sh on a venv whose pip fails: the script must fail, say so, and never claim success."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text(f'export PATH="{venv / "bin"}:$PATH"\n')
    python = venv / "bin" / "python"
    python.write_text('#!/usr/bin/env bash\nif [ "$1" = "-m" ] && [ "$2" = "pip" ]; then\n'
                      '  echo "ERROR: No matching distribution found for openai-whisper==20250625" >&2; exit 1\nfi\nexit 0\n')
    python.chmod(0o755)
    done = subprocess.run(["bash", str(CHECKOUT / "scripts" / "setup.sh")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LSLM_EVAL_VENV": str(venv)})
    assert done.returncode != 0
    assert "No matching distribution" in done.stdout + done.stderr and "failed" in done.stderr
    assert "lslm-eval installed" not in done.stdout
