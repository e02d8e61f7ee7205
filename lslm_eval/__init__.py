"""lslm-eval. Installed, `lslm_eval.tasks`, `.plugins` and `.trainers` are subpackages (setup.py maps the
checkout's top-level folders there). Run from a checkout on PYTHONPATH, they are bound here to those folders,
so the same imports work (and the start-up hook of an installed copy finds them) without installing."""

import importlib.util
import sys
from pathlib import Path

CHECKOUT_FOLDERS = ("tasks", "plugins", "trainers")


def _bind_checkout_folders() -> None:
    here = Path(__file__).resolve().parent
    root = here.parent
    if (here / "plugins").is_dir() or not (root / "pyproject.toml").is_file():
        return  # an installed copy: the subpackages are inside
    for name in CHECKOUT_FOLDERS:
        full, init = f"{__name__}.{name}", root / name / "__init__.py"
        if full in sys.modules or not init.is_file() or importlib.util.find_spec(full) is not None:
            continue  # already bound, absent, or found another way (the editable install's finder)
        spec = importlib.util.spec_from_file_location(full, init, submodule_search_locations=[str(init.parent)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        setattr(sys.modules[__name__], name, module)


_bind_checkout_folders()
