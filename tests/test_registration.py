"""The .pth start-up hook: lm-eval finds `lslm` and our tasks, and keeps its own models and tasks."""

import json
import subprocess
import sys
from pathlib import Path

CHECK = """
import json, sys
assert "torch" not in sys.modules and "lm_eval" not in sys.modules, "the start-up hook must import neither"
from lm_eval.api.registry import get_model
from lm_eval.models import MODEL_MAPPING
print(json.dumps({"lslm": get_model("lslm").__name__, "hf": get_model("hf").__name__,
                  "builtins_kept": all(name in __import__("lm_eval.api.registry").api.registry.model_registry for name in MODEL_MAPPING)}))
"""


def run_python(code: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_lm_eval_in_a_fresh_interpreter_resolves_lslm_and_builtin_models(tmp_path):
    assert json.loads(run_python(CHECK, tmp_path)) == {"lslm": "LSLMEval", "hf": "HFLM", "builtins_kept": True}


def test_task_manager_lists_our_tasks_and_the_builtin_ones(tmp_path):
    code = ("from lm_eval.tasks import TaskManager; tm = TaskManager(); import json; "
            "print(json.dumps(['voicebench_sdqa' in tm.all_tasks, 'voicebench_sdqa_text' in tm.all_tasks, 'hellaswag' in tm.all_tasks]))")
    assert json.loads(run_python(code, tmp_path)) == [True, True, True]


def test_install_is_idempotent_and_stands_down_when_already_registered():
    from lslm_eval.plugins import startup

    startup.install()
    startup.install()
    assert sum(isinstance(f, startup._RunAfterImport) for f in sys.meta_path) == 1
    startup.register_model()  # a second registration (e.g. lm-eval loading entry points) is a no-op
    from lm_eval.api.registry import get_model

    assert get_model("lslm").__name__ == "LSLMEval"
    assert get_model("hf").__name__ == "HFLM"  # registering never hides lm-eval's own models


def test_lm_eval_ifeval_finds_punkt_tab_without_downloading(tmp_path, monkeypatch):
    code = ("import nltk; nltk.download = lambda *a, **k: (_ for _ in ()).throw(AssertionError('download attempted')); "
            "import lm_eval.tasks.ifeval.instructions_util as u; u.download_nltk_resources(); "
            "print(nltk.word_tokenize('One sentence. Two words.'))")
    assert run_python(code, tmp_path) == "['One', 'sentence', '.', 'Two', 'words', '.']"
