"""Per-family facts of the transformers-native audio LMs (`native.py` is the generic path).

A family that needs nothing special needs no entry: any `config.model_type` in transformers'
`AutoModelForMultimodalLM` mapping whose class takes `input_features` and has `config.audio_token_id`
and `get_decoder().layers` runs through `Family`. The entries below are the decided exceptions:

    qwen2_audio     the processor pads every clip to Whisper's 30 s window (the encoder is masked to
                    the clip; the span is the clip's own tokens, 25 per second): longer clips would be
                    cut silently, so they are refused.
    qwen2_5_omni    the thinker only (`enable_audio_output=False`: no talker, no token2wav); for audio
                    without images or video its multimodal rotary index is 0..S-1 in all three
                    sections (checked on every item by the generic path).
    granite_speech  the shipped LoRA is switched on only when audio is present (its `generate`): a
                    speech batch runs with it, a text batch (the text twin) without it, so the text
                    score is the base LLM's and GAP is measured against it; a mixed batch is generated
                    as two (greedy output does not depend on the batch), and a mixed forward is an error.
    voxtral         refused (`NOT_SERVED`): audio reaches the model only through `apply_chat_template` of
                    its mistral-common tokenizer, not processor(text=, audio=).
    audioflamingo3  not in transformers' multimodal-LM auto mapping: loaded by its class; the processor
                    splits audio into 30 s windows and cuts it at 600 s, so longer clips are refused.
    phi4_multimodal the decoder merges the audio inside its own forward: the merge is read at its first
                    block's input; its `speech-lora/` PEFT adapter is loaded when shipped and switched
                    on for speech, off for the text twin (as Granite's).
    gemma3n         refused, with the reason (`NOT_SERVED`): per-layer token inputs and audio-vocabulary
                    delimiters cannot be reproduced from inputs_embeds.

Families the installed transformers does not implement (Ultravox, Kimi-Audio, ...) are refused
with a clear message unless `trust_remote_code=true` is passed, which loads the repository's own
classes through the generic path.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..audio import SAMPLE_RATE

REMOTE_ONLY = {"ultravox": "Ultravox", "kimi_audio": "Kimi-Audio", "kimia": "Kimi-Audio"}
NOT_SERVED = {  # implemented by transformers, but not runnable from inputs_embeds without losing what the model does
    "gemma3n": "Gemma 3n adds per-layer token embeddings (get_per_layer_inputs of the input ids) and embeds its audio "
               "delimiters with its own audio vocabulary; a run from inputs_embeds cannot reproduce either, so the "
               "text twin and the speech prompt would not be the model's own inputs",
    "voxtral": "Voxtral takes audio only through its processor's apply_chat_template (the mistral-common tokenizer, "
               "audio as a path, URL or base64), not processor(text=, audio=); that path is not implemented here",
}


class Family:
    """The generic audio LM: AutoModelForMultimodalLM, `config.audio_token_id`, processor(text=, audio=)."""

    model_type = "generic"
    max_seconds: float | None = None
    projector: tuple[str, ...] = ("multi_modal_projector",)  # the module(s) between audio encoder and LM: trainable
    merge_at = "decoder"  # where the merged embeddings are read: the text decoder's input, or "first_layer"
    fused: dict[str, str] = {}  # a LoRA target name -> the fused linear that holds it in this family

    def load(self, hf: str, dtype, trust_remote_code: bool = False):
        from transformers import AutoModelForMultimodalLM

        return AutoModelForMultimodalLM.from_pretrained(hf, dtype=dtype, trust_remote_code=trust_remote_code)

    def audio_token_id(self, config) -> int:
        token = getattr(config, "audio_token_id", None)
        if token is None:
            token = getattr(config, "audio_token_index", None)
        if token is None:
            raise ValueError(f"{type(config).__name__} names no audio_token_id: not an audio LM this backend can serve")
        return int(token)

    def check_audio(self, wav: np.ndarray) -> None:
        if self.max_seconds is not None and wav.shape[0] > self.max_seconds * SAMPLE_RATE:
            raise ValueError(f"{self.model_type}: the clip is {wav.shape[0] / SAMPLE_RATE:.1f} s; the model's processor "
                             f"keeps at most {self.max_seconds:g} s and would cut the rest silently")

    def switches_by_modality(self, model) -> bool:
        """True when speech and text rows must run separately (the model changes with the modality)."""
        return False

    def audio_context(self, model, speech_rows: list[bool] | None):
        """A context to run a batch whose rows are speech (True) or text (False) in."""
        return contextlib.nullcontext()


class Qwen2Audio(Family):
    model_type = "qwen2_audio"
    max_seconds = 30.0


class Qwen25Omni(Family):
    model_type = "qwen2_5_omni"
    projector = ("audio_tower.proj",)  # the audio tower's last linear maps to the LM width

    def load(self, hf, dtype, trust_remote_code=False):
        from transformers import Qwen2_5OmniForConditionalGeneration

        return Qwen2_5OmniForConditionalGeneration.from_pretrained(hf, dtype=dtype, enable_audio_output=False).thinker

    def audio_token_id(self, config) -> int:
        return int(config.audio_token_id if hasattr(config, "audio_token_id") else config.thinker_config.audio_token_id)

    @contextlib.contextmanager
    def audio_context(self, model, speech_rows: list[bool] | None):
        """Runs from inputs_embeds take their 3-section positions from the attention mask plus the cached
        rope deltas; for audio without images or video the deltas are 0, so they are set to 0 here
        rather than left from whichever input the model saw last."""
        import torch

        for module in model.modules():
            if hasattr(module, "rope_deltas"):
                module.rope_deltas = torch.zeros(1, 1, dtype=torch.long, device=model.device)
        yield


def _lora_layers(model) -> list:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


class GraniteSpeech(Family):
    model_type = "granite_speech"
    projector = ("projector",)  # the windowed Q-Former

    def load(self, hf, dtype, trust_remote_code=False):
        model = super().load(hf, dtype, trust_remote_code)
        if getattr(model.config, "has_lora_adapter", False) and not _lora_layers(model):
            import peft

            raise ValueError(f"{hf}: granite_speech ships an audio LoRA (has_lora_adapter=true) that was not loaded "
                             f"(transformers loads it with peft >= 0.22; peft {peft.__version__} is installed): "
                             "without it the model would run as another model")
        return model

    def switches_by_modality(self, model) -> bool:
        return bool(getattr(model.config, "has_lora_adapter", False)) and bool(_lora_layers(model))

    @contextlib.contextmanager
    def audio_context(self, model, speech_rows: list[bool] | None):
        """The shipped LoRA on for speech, off for text, as the model's own `generate` does; every
        LoRA layer's on/off state and its parameters' requires_grad are restored afterwards."""
        if not self.switches_by_modality(model) or speech_rows is None:
            yield
            return
        if any(speech_rows) and not all(speech_rows):
            raise ValueError(f"{self.model_type} switches its LoRA by modality: a batch must be all speech or all text")
        layers = _lora_layers(model)
        was_off = [layer.disable_adapters for layer in layers]
        grads = [(p, p.requires_grad) for layer in layers for p in layer.parameters()]
        for layer in layers:
            layer.enable_adapters(all(speech_rows))
        try:
            yield
        finally:
            for layer, off in zip(layers, was_off):
                layer.enable_adapters(not off)
            for param, grad in grads:
                param.requires_grad_(grad)


class Phi4Multimodal(GraniteSpeech):
    """Phi-4-multimodal: the decoder embeds (and merges the audio) inside its own forward, so the merge
    is read at the first decoder block's input. Its speech LoRA ships as a `speech-lora/` PEFT folder
    beside the weights: loaded with peft when present and switched like Granite's (on for speech, off
    for the text twin)."""

    model_type = "phi4_multimodal"
    merge_at = "first_layer"
    projector = ("up_proj_for_speech", "down_proj_for_speech")
    fused = {"q_proj": "qkv_proj", "k_proj": "qkv_proj", "v_proj": "qkv_proj"}
    SPEECH_LORA = "speech-lora"

    def load(self, hf, dtype, trust_remote_code=False):
        from pathlib import Path

        model = Family.load(self, hf, dtype, trust_remote_code)
        folder = Path(hf) / self.SPEECH_LORA
        if not folder.is_dir() and not Path(hf).exists():
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(hf, allow_patterns=[f"{self.SPEECH_LORA}/*"])) / self.SPEECH_LORA
        if folder.is_dir():
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(folder)).eval()
        return model

    def audio_token_id(self, config) -> int:
        return int(config.audio_config.audio_token_id)

    def switches_by_modality(self, model) -> bool:
        return bool(_lora_layers(model))


class AudioFlamingo3(Family):
    model_type = "audioflamingo3"
    max_seconds = 600.0  # the processor cuts longer audio (with only a log warning)

    def load(self, hf, dtype, trust_remote_code=False):
        from transformers import AudioFlamingo3ForConditionalGeneration

        return AudioFlamingo3ForConditionalGeneration.from_pretrained(hf, dtype=dtype)


FAMILIES = {f.model_type: f for f in (Qwen2Audio(), Qwen25Omni(), GraniteSpeech(), Phi4Multimodal(), AudioFlamingo3())}


def family_for(config, trust_remote_code: bool = False) -> Family:
    """The family of a loaded transformers config; refuses what this transformers cannot run."""
    model_type = getattr(config, "model_type", None)
    if model_type in NOT_SERVED:
        raise ValueError(f"{model_type} is not served by the native backend: {NOT_SERVED[model_type]}")
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    from transformers.models.auto.modeling_auto import MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES

    if model_type in MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES or trust_remote_code:
        return Family()
    import transformers

    name = REMOTE_ONLY.get(model_type, model_type)
    raise ValueError(f"{name} ({model_type!r}) is not implemented by the installed transformers {transformers.__version__}; "
                     "pass trust_remote_code=true to load the repository's own code, or use a family transformers ships")
