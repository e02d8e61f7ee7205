"""The `text@base` arm: an LSLM's text twins answered by its original LLM (lslm_eval.benchmarks.ARMS).

    lm_eval --model lslm --model_args checkpoint=CK,arm=text@base --tasks voicebench_sdqa_text

- PEFT adapter (`adapter/`): the same loaded model with the adapters disabled (peft's `disable_adapter`
  context) for every request;
- full fine-tune (`llm/`): the base LLM the checkpoint's config names (the one training started from),
  loaded in place of the tuned one;
- neither (an adaptor-only checkpoint, like the offline default): the LLM was frozen, so the base is the
  LLM itself and text@base equals text item for item: forgetting is 0 by construction.

text@base hears nothing: a speech request is refused, naming the arm.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from lslm_eval.benchmarks import ARM_ARG, MODEL_ARMS, TEXT_AT_BASE

log = logging.getLogger(__name__)


def check_arm(arm: str | None) -> str:
    arm = arm or MODEL_ARMS[0]
    if arm not in MODEL_ARMS:
        raise ValueError(f"{ARM_ARG}={arm!r} is not an arm of the lslm model; choose one of {list(MODEL_ARMS)} "
                         f"(the cascade arm is a task: voicebench_<subset>_cascade)")
    return arm


def base_llm(model, checkpoint: str | None):
    """Prepare `model` (a backend: lslm_eval.backends) for text@base; returns a function giving the context every
    request runs in."""
    from lslm_eval.model import CONFIG_FILE, FULL_LLM_DIR, LSLMConfig, load_llm

    if hasattr(model.language_model, "disable_adapter"):
        return model.language_model.disable_adapter
    if checkpoint and (Path(checkpoint) / FULL_LLM_DIR).is_dir() and hasattr(model, "llm"):
        saved = LSLMConfig.from_json((Path(checkpoint) / CONFIG_FILE).read_text())
        if Path(saved.llm).resolve() == (Path(checkpoint) / FULL_LLM_DIR).resolve():
            raise ValueError(f"{checkpoint}: its config names the fine-tuned {FULL_LLM_DIR}/ as the LLM, so the "
                             f"original LLM is unknown; pass llm=<base> with {ARM_ARG}={TEXT_AT_BASE}")
        # `model.llm`, not the `language_model` property: nn.Module.__setattr__ files a Module value under the
        # attribute's name without calling a property's setter
        model.llm, model.tokenizer = load_llm(saved, model.dtype, model.device)
        log.info("lslm %s: the base LLM %s replaces the fine-tuned one", TEXT_AT_BASE, saved.llm)
        return contextlib.nullcontext
    log.warning("lslm %s: %s has no PEFT adapter and no fine-tuned LLM: the LLM is the base one, so text@base "
                "scores equal the text scores", TEXT_AT_BASE, checkpoint)
    return contextlib.nullcontext
