"""Packaging glue that pyproject.toml cannot express.

1. The top-level folders `tasks/`, `plugins/` and `trainers/` install as `lslm_eval.tasks`,
   `lslm_eval.plugins` and `lslm_eval.trainers`: nothing but `lslm_eval` lands in site-packages.
2. `lslm_eval-lm_eval.pth` lands in site-packages: it registers `lslm` and the VoiceBench tasks with
   lm-eval when lm-eval is imported (lm-eval 0.4.13 reads no plugin entry point). A regular install gets
   it from build_py; an editable one (`pip install -e .`) from the editable wheel, beside setuptools' own
   `__editable__.*.pth` (which sorts first, so its finder is in place when ours runs).
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

FOLDER_OF = {"lslm_eval": "lslm_eval", "lslm_eval.tasks": "tasks", "lslm_eval.plugins": "plugins", "lslm_eval.trainers": "trainers"}
STARTUP_PTH = "lslm_eval-lm_eval.pth"


def mapped_packages() -> list[str]:
    packages = []
    for package, folder in FOLDER_OF.items():
        packages.append(package)
        packages += [f"{package}.{sub}" for sub in find_packages(folder)]
    return packages


class BuildWithStartupHook(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / STARTUP_PTH
        target.write_text(Path("plugins", STARTUP_PTH).read_text())

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [str(Path(self.build_lib) / STARTUP_PTH)]


class _WithStartupHook:
    """An editable-wheel strategy that also writes the start-up hook into the wheel."""

    def __init__(self, strategy):
        self.strategy = strategy

    def __call__(self, wheel, files, mapping):
        self.strategy(wheel, files, mapping)
        wheel.writestr(STARTUP_PTH, Path("plugins", STARTUP_PTH).read_bytes())

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc):
        return self.strategy.__exit__(*exc)


class EditableWithStartupHook(editable_wheel):
    def _select_strategy(self, *args, **kwargs):
        return _WithStartupHook(super()._select_strategy(*args, **kwargs))


setup(packages=mapped_packages(), package_dir=FOLDER_OF,
      cmdclass={"build_py": BuildWithStartupHook, "editable_wheel": EditableWithStartupHook})
