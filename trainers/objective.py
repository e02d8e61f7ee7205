"""What trains and what it minimises: the model prepared for training, and the loss of one micro-batch.

The loss is cross-entropy on the response tokens only, optionally plus `distill_weight` times the
KL divergence from the model's own output distribution on the written instruction (paper 1 §3.2).
The encoder never trains; the adaptor always does; LoRA or the whole LLM as `mode` says.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lslm_eval.model import ADAPTOR_FILE, FULL_LLM_DIR, PEFT_DIR, LSLM, CheckpointError, LSLMConfig, load_adaptor_state
from lslm_eval.prompt import AUDIO_PLACEHOLDER, IGNORE_INDEX, PromptItem
from lslm_eval.trainers.config import TrainConfig


def prepare_model(config: TrainConfig, device: str) -> LSLM:
    """Load the LSLM and mark what trains: the adaptor always, plus LoRA or the whole LLM.

    Trainable weights are float32 whatever `dtype` is (mixed precision keeps master weights in
    float32); frozen ones keep `dtype`."""
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
        from peft import LoraConfig, get_peft_model

        targets = "all-linear" if config.lora_targets == ["all-linear"] else config.lora_targets
        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=targets, task_type="CAUSAL_LM")
        model.llm = get_peft_model(model.llm, lora)
    elif config.mode == "lora":  # continue the init checkpoint's adapter
        for name, param in model.llm.named_parameters():
            param.requires_grad_("lora_" in name)
    model.adaptor.requires_grad_(True)
    for param in model.parameters():
        if param.requires_grad:
            param.data = param.data.float()
    if config.gradient_checkpointing:
        # transformers 5 renamed gradient checkpointing to activation checkpointing
        enable = getattr(model.llm, "activation_checkpointing_enable", None) or model.llm.gradient_checkpointing_enable
        enable({"use_reentrant": False})  # the first argument of both: checkpoint() keyword arguments
    model.config.extra = {"train": asdict(config)}
    return model


def load_trained_weights(model: LSLM, checkpoint: Path) -> None:
    """Put a checkpoint's adaptor, PEFT adapter or full LLM into a model built by `prepare_model`."""
    from safetensors.torch import load_file

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


def response_logits(logits: Tensor, labels: Tensor) -> Tensor:
    """logits (B, S, V), labels (B, S) -> (n, V): the logits that predict the n response tokens."""
    return logits[:, :-1][labels[:, 1:] != IGNORE_INDEX]


class InstructionObjective(nn.Module):
    """The training loss of one micro-batch: (loss, cross_entropy, kl), the last two detached.

    Speech examples come as encoder frames (T, d_enc), which the adaptor turns into the query;
    examples given as text (frames None) use the written instruction. The whole computation is this
    module's forward, so DistributedDataParallel sees every trainable parameter used."""

    def __init__(self, lslm: LSLM, distill_weight: float = 0.0):
        super().__init__()
        self.lslm = lslm
        self.distill_weight = distill_weight

    def build_items(self, frames: Sequence[Tensor | None], instructions: Sequence[str], responses: Sequence[list[int]]) -> list[PromptItem]:
        lslm, adaptor_param = self.lslm, self.lslm.adaptor.proj_in.weight
        items = []
        for frame, instruction, response in zip(frames, instructions, responses):
            speech = None if frame is None else lslm.adaptor(frame.to(adaptor_param.device, adaptor_param.dtype).unsqueeze(0))[0]
            item = lslm.prompt.build(AUDIO_PLACEHOLDER, speech, instruction)
            item.response_ids = list(response)
            items.append(item)
        return items

    def forward(self, frames: Sequence[Tensor | None], instructions: Sequence[str], responses: Sequence[list[int]]):
        lslm = self.lslm
        batch = lslm.collate(self.build_items(frames, instructions, responses), padding_side="right")
        out = lslm(batch)
        if not self.distill_weight:
            return out.loss, out.loss.detach(), torch.zeros_like(out.loss.detach())
        teacher_batch = lslm.collate(self.build_items([None] * len(frames), instructions, responses), padding_side="right")
        lslm.llm.eval()  # the target is the model's own deterministic text-input distribution (no dropout)
        with torch.no_grad():
            teacher = lslm(teacher_batch).logits
        lslm.llm.train(self.training)
        student = response_logits(out.logits, batch.labels).float()
        target = response_logits(teacher, teacher_batch.labels).float()
        kl = F.kl_div(F.log_softmax(student, -1), F.log_softmax(target, -1), log_target=True, reduction="batchmean")
        return out.loss + self.distill_weight * kl, out.loss.detach(), kl.detach()

