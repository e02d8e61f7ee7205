"""What trains and what it minimises: the model prepared for training, and the loss of one micro-batch.

The loss is cross-entropy on the response tokens only, optionally plus `distill_weight` times the
KL divergence from the model's own output distribution on the written instruction (paper 1 §3.2).
The encoder never trains; the speech parameters (adaptor, or a native model's projector) always do;
LoRA or (LSLM) the whole LLM as `mode` says. Batches are built by the backend (`build_items`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lslm_eval.model import ADAPTOR_FILE, FULL_LLM_DIR, PEFT_DIR, LSLM, CheckpointError, LSLMConfig, load_adaptor_state
from lslm_eval.prompt import AUDIO_PLACEHOLDER, PromptItem
from lslm_eval.trainers.config import TrainConfig


def prepare_model(config: TrainConfig, device: str):
    """Load the backend and mark what trains: its speech parameters (the adaptor, or a native model's
    projector) always, plus LoRA on the language model or (LSLM only) the whole LLM.

    Trainable weights are float32 whatever `dtype` is (mixed precision keeps master weights in
    float32); frozen ones keep `dtype`. The speech encoder never trains."""
    if config.hf:
        return prepare_native(config, device)
    if config.init_checkpoint:
        model = LSLM.from_pretrained(config.init_checkpoint, device=device, dtype=config.dtype)
    else:
        model_config = LSLMConfig(encoder=config.encoder, llm=config.llm, gguf_file=config.gguf_file, stack=config.stack,
                                  adaptor_hidden=config.adaptor_hidden, activation=config.activation, system_prompt=config.system_prompt)
        model = LSLM.build(model_config, device=device, dtype=config.dtype, seed=config.seed)
    model.requires_grad_(False)
    has_adapter = hasattr(model.llm, "peft_config")
    if config.mode == "full":
        if has_adapter:
            model.llm = model.llm.merge_and_unload()
        model.llm.requires_grad_(True)
    elif config.mode == "lora" and not has_adapter:
        from peft import get_peft_model

        targets = "all-linear" if config.lora_targets == ["all-linear"] else config.lora_targets
        model.llm = get_peft_model(model.llm, lora_config(config, targets))
    elif config.mode == "lora":  # continue the init checkpoint's adapter
        for name, param in model.llm.named_parameters():
            param.requires_grad_("lora_" in name)
    return _finish(model, config)


def lora_config(config: TrainConfig, targets):
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def prepare_native(config: TrainConfig, device: str):
    """A transformers-native audio LM (`hf=`): LoRA on its text decoder only, the projector trainable,
    the audio encoder frozen. `hf` may be a directory an earlier run wrote (its adapter continues)."""
    from lslm_eval.backends.native import NativeSpeechLM

    model = NativeSpeechLM.from_pretrained(config.hf, device=device, dtype=config.dtype, system_prompt=config.system_prompt,
                                           trust_remote_code=config.trust_remote_code)
    return mark_native_trainable(model, config)


def mark_native_trainable(model, config: TrainConfig):
    """Freeze everything, then: LoRA on the text decoder (mode lora), the projector always."""
    from peft import get_peft_model

    model.requires_grad_(False)
    if config.mode == "lora":
        if hasattr(model.model, "peft_config"):
            for name, param in model.model.named_parameters():
                param.requires_grad_("lora_" in name)
        else:
            model.model = get_peft_model(model.model, lora_config(config, model.lora_target_modules(config.lora_targets)))
    return _finish(model, config)


def _finish(model, config: TrainConfig):
    for param in model.speech_parameters():
        param.requires_grad_(True)
    for param in model.parameters():
        if param.requires_grad:
            param.data = param.data.float()
    if config.gradient_checkpointing:
        # transformers 5 renamed gradient checkpointing to activation checkpointing
        lm = model.language_model
        enable = getattr(lm, "activation_checkpointing_enable", None) or lm.gradient_checkpointing_enable
        enable({"use_reentrant": False})  # the first argument of both: checkpoint() keyword arguments
    model.config.extra = {"train": asdict(config)}
    return model


def load_trained_weights(model, checkpoint: Path) -> None:
    """Put a checkpoint's adaptor, PEFT adapter or full LLM into a model built by `prepare_model`."""
    from safetensors.torch import load_file

    if hasattr(model, "load_trained"):  # a native backend reads its own layout
        model.load_trained(checkpoint)
        return
    model.adaptor.load_state_dict(load_adaptor_state(checkpoint / ADAPTOR_FILE, model.adaptor))
    if (checkpoint / PEFT_DIR).is_dir():
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model.llm, load_file(str(checkpoint / PEFT_DIR / "adapter_model.safetensors")))
        if result.unexpected_keys:
            raise CheckpointError(f"{checkpoint / PEFT_DIR}: adapter tensors {result.unexpected_keys[:5]} do not fit the model")
    if (checkpoint / FULL_LLM_DIR).is_dir():
        from transformers import AutoModelForCausalLM

        trained = AutoModelForCausalLM.from_pretrained(str(checkpoint / FULL_LLM_DIR), dtype=model.dtype)
        model.llm.load_state_dict(trained.state_dict())


class InstructionObjective(nn.Module):
    """The training loss of one micro-batch: (loss, cross_entropy, kl), the last two detached.

    Speech examples come as the backend's `frozen_speech` (LSLM: encoder frames, which the adaptor
    turns into the query; native: the waveform); examples given as text (None) use the written
    instruction. The whole computation is this
    module's forward, so DistributedDataParallel sees every trainable parameter used."""

    def __init__(self, lslm: LSLM, distill_weight: float = 0.0):
        super().__init__()
        self.lslm = lslm
        self.distill_weight = distill_weight

    def build_items(self, speech: Sequence | None, instructions: Sequence[str], responses: Sequence[list[int]]) -> list[PromptItem]:
        """Through the backend: speech[i] is the example's `frozen_speech` (None: the written instruction,
        the text twin), the response follows the prompt."""
        items = self.lslm.build_items([AUDIO_PLACEHOLDER] * len(instructions), list(speech), list(instructions))
        for item, response in zip(items, responses):
            item.response_ids = list(response)
        return items

    def forward(self, frames: Sequence[Tensor | None], instructions: Sequence[str], responses: Sequence[list[int]]):
        lslm = self.lslm
        batch = lslm.collate(self.build_items(frames, instructions, responses), padding_side="right")
        student, targets = lslm.response_logits(batch)
        student = student.float()
        ce = F.cross_entropy(student, targets)
        if not self.distill_weight:
            return ce, ce.detach(), torch.zeros_like(ce.detach())
        teacher_batch = lslm.collate(self.build_items([None] * len(frames), instructions, responses), padding_side="right")
        lslm.language_model.eval()  # the target is the model's own deterministic text-input distribution (no dropout)
        with torch.no_grad():
            target = lslm.response_logits(teacher_batch)[0].float()
        lslm.language_model.train(self.training)
        kl = F.kl_div(F.log_softmax(student, -1), F.log_softmax(target, -1), log_target=True, reduction="batchmean")
        return ce + self.distill_weight * kl, ce.detach(), kl.detach()

