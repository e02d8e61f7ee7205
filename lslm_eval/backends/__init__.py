"""Model backends: every speech LM family behind one interface (`base.SpeechLM`).

`load_backend` is the one construction path of the `lslm` model and every verb:
    hf=HUB_ID_OR_DIR     a transformers-native audio LM (`native.NativeSpeechLM`), or a directory
                         that `NativeSpeechLM.save_pretrained` / `lslm-eval train --model hf=...` wrote
    checkpoint=DIR       this project's Whisper + adaptor LSLM (`model.LSLM`), encoder=/llm= overrides
    neither              the shipped offline default LSLM
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def load_backend(hf: str | None = None, checkpoint: str | None = None, overrides: dict | None = None, device: str = "cpu",
                 dtype: str = "auto", seed: int = 0, trust_remote_code: bool = False):
    """The model of one run: a native audio LM by `hf`, else an LSLM checkpoint (or a fresh adaptor)."""
    overrides = dict(overrides or {})
    if hf is not None:
        lslm_only = sorted(k for k in overrides if k != "system_prompt")
        if checkpoint is not None or lslm_only:
            raise ValueError(f"hf={hf} loads a transformers-native audio LM; {['checkpoint'] * (checkpoint is not None) + lslm_only} "
                             "configure this project's Whisper + adaptor LSLM and cannot be combined with it")
        from .native import NativeSpeechLM

        return NativeSpeechLM.from_pretrained(hf, device=device, dtype=dtype, system_prompt=overrides.get("system_prompt"),
                                              trust_remote_code=trust_remote_code)
    from ..model import DEFAULT_CHECKPOINT, LSLM, LSLMConfig

    if checkpoint is None and not (overrides.get("encoder") or overrides.get("llm")):
        checkpoint = str(DEFAULT_CHECKPOINT)
    if checkpoint is not None:
        return LSLM.from_pretrained(checkpoint, device=device, dtype=dtype, **overrides)
    log.warning("lslm: no checkpoint given: the adaptor is RANDOMLY initialised; speech scores will be meaningless")
    return LSLM.build(LSLMConfig(**overrides), device=device, dtype=dtype, seed=seed)
