"""Transformers-native audio LMs as backends: `hf=HUB_ID_OR_DIR` (Qwen2-Audio, Qwen2.5-Omni, Granite
Speech, Audio Flamingo 3, ... whatever the installed transformers implements).

A speech request is the family's own conversation: the processor's chat template renders the user
turn with an audio part where the task's `<audio>` was, the processor expands the audio placeholder
(called with `audio=`, the transformers 5 keyword), and the model's own forward merges its audio
features into the placeholder positions. That forward is stopped at the language model's door (a
pre-hook on the text decoder), so the embeddings the backend hands on are exactly the ones the
model would have used; nothing of the merge is re-implemented here. The query span of a speech item
is the run of audio placeholder tokens; a speech request whose prompt holds none is an error.

The text twin is the same conversation, expanded the same way, with the transcript's tokens in
place of the placeholder run: every position outside the span is the same token id in both
(the family's audio delimiters, such as Qwen's <|audio_bos|>, stay in the twin's prefix/suffix).

Positions: the language model runs from `inputs_embeds` with 1-D positions 0..S-1 from the
attention mask. A family whose own merge passes other positions to its decoder (Qwen2.5-Omni's
multimodal rotary index does so only with images or video) is refused at build time, by comparing
the positions its forward computed with 0..S-1.

Family facts live in `families.py`; this module is the generic path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..audio import SAMPLE_RATE
from ..prompt import AUDIO_PLACEHOLDER, PromptBatch, PromptItem, collate, predicts_response
from .families import Family, family_for

BACKEND_FILE = "backend.json"  # marks a checkpoint directory written by NativeSpeechLM.save_pretrained
TRAINED_FILE = "trained.safetensors"  # the trained non-LoRA parameters (the projector)
PEFT_DIR = "adapter"


class _MergeDone(Exception):
    """Raised by the pre-hook once the decoder's inputs are recorded: the rest of the forward is not needed."""


@dataclass
class NativeConfig:
    hf: str  # hub id or local directory
    family: str = ""  # config.model_type, filled on load
    system_prompt: str | None = None
    extra: dict = field(default_factory=dict)


class NativePrompt:
    """The family equivalent of `prompt.PromptBuilder`: renders a user turn into the family's conversation."""

    def __init__(self, processor, family: Family, system_prompt: str | None = None):
        self.processor = processor
        self.family = family
        self.system_prompt = system_prompt
        self.apply_chat_template = True

    def with_system_prompt(self, system_prompt: str | None) -> "NativePrompt":
        return NativePrompt(self.processor, self.family, system_prompt)

    def messages(self, user_turn: str) -> list[dict]:
        """The conversation of one request; `<audio>` becomes the family's audio part."""
        if user_turn.count(AUDIO_PLACEHOLDER) > 1:
            raise ValueError("one speech query per request: the user turn holds more than one <audio>")
        before, _, after = user_turn.partition(AUDIO_PLACEHOLDER)
        content = [{"type": "text", "text": before}] if before else []
        if AUDIO_PLACEHOLDER in user_turn:
            content.append({"type": "audio"})
        content += [{"type": "text", "text": after}] if after else []
        system = [{"role": "system", "content": [{"type": "text", "text": self.system_prompt}]}] if self.system_prompt else []
        return system + [{"role": "user", "content": content}]

    def render(self, user_turn: str) -> str:
        return self.processor.apply_chat_template(self.messages(user_turn), tokenize=False, add_generation_prompt=True)


def placeholder_run(ids: Sequence[int], token_id: int, where: str) -> tuple[int, int]:
    """(start, end) of the one contiguous run of `token_id` in ids; anything else is an error naming `where`."""
    hits = [i for i, t in enumerate(ids) if t == token_id]
    if not hits:
        raise ValueError(f"{where}: the prompt holds no audio placeholder token (id {token_id}); a speech request "
                         "must reach the model as audio, not as a text answer")
    start, end = hits[0], hits[-1] + 1
    if end - start != len(hits):
        raise ValueError(f"{where}: the audio placeholder tokens are not one contiguous run (one audio per request)")
    return start, end


def select_rows(batch: PromptBatch, rows: Sequence[int]) -> PromptBatch:
    """The batch of `rows` only, without the columns that are padding in all of them (left padding)."""
    index = torch.tensor(list(rows), dtype=torch.long)
    mask = batch.attention_mask[index.to(batch.attention_mask.device)]
    first = int((mask.sum(0) > 0).nonzero()[0]) if batch.inputs_embeds.shape[1] else 0
    device_index = index.to(batch.inputs_embeds.device)
    return PromptBatch(batch.inputs_embeds[device_index, first:], mask[:, first:], batch.position_ids[device_index, first:],
                       batch.span_start[index] - first, batch.span_len[index],
                       None if batch.labels is None else batch.labels[device_index, first:],
                       None if batch.speech_rows is None else [batch.speech_rows[r] for r in rows])


class NativeSpeechLM(nn.Module):
    """A transformers audio LM behind the backend interface (`backends.base`)."""

    def __init__(self, config: NativeConfig, model: nn.Module, processor, family: Family):
        super().__init__()
        self.config = config
        self.family = family
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.prompt = NativePrompt(processor, family, config.system_prompt)
        self._twin_cache: dict[tuple[str, str | None], tuple[list[int], list[int]]] = {}

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_pretrained(cls, hf: str, device="cpu", dtype="auto", system_prompt: str | None = None,
                        trust_remote_code: bool = False) -> "NativeSpeechLM":
        """Load model and processor by hub id or directory; a directory written by `save_pretrained`
        (backend.json) loads its base model and puts the trained parts back."""
        from ..model import resolve_dtype

        trained_dir = Path(hf) if (Path(hf) / BACKEND_FILE).is_file() else None
        config = NativeConfig(hf=hf, system_prompt=system_prompt)
        if trained_dir is not None:
            saved = json.loads((trained_dir / BACKEND_FILE).read_text())
            config = NativeConfig(**{**saved, **({"system_prompt": system_prompt} if system_prompt else {})})
        from transformers import AutoConfig, AutoProcessor

        hf_config = AutoConfig.from_pretrained(config.hf, trust_remote_code=trust_remote_code)
        family = family_for(hf_config, trust_remote_code)
        torch_dtype = resolve_dtype(dtype, device)
        model = family.load(config.hf, torch_dtype, trust_remote_code).to(device).eval()
        processor = AutoProcessor.from_pretrained(config.hf, trust_remote_code=trust_remote_code)
        config.family = hf_config.model_type
        backend = cls(config, model, processor, family)
        if trained_dir is not None:
            backend.load_trained(trained_dir)
        return backend

    # ---------------------------------------------------------------- the backend interface
    @property
    def language_model(self) -> nn.Module:
        """The whole audio LM (PEFT wraps this; LoRA targets only its text decoder, `trainers`)."""
        return self.model

    def _base(self) -> nn.Module:
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    def text_decoder(self) -> nn.Module:
        """The family's text decoder (the module holding the decoder layers)."""
        decoder = self._base().get_decoder()
        if not isinstance(getattr(decoder, "layers", None), nn.ModuleList):
            raise ValueError(f"{type(self._base()).__name__}.get_decoder() has no `layers`: cannot name its decoder layers")
        return decoder

    def decoder_layers(self) -> nn.ModuleList:
        return self.text_decoder().layers

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.get_input_embeddings().weight.dtype

    def embed_tokens(self, ids: Tensor) -> Tensor:
        return self.model.get_input_embeddings()(ids.to(self.device))

    # ---------------------------------------------------------------- inputs
    def processor_inputs(self, user_turn: str, wav: np.ndarray) -> dict:
        """The processor's tensors for one speech request (what the model's own forward takes)."""
        wav = np.asarray(wav, dtype=np.float32)
        self.family.check_audio(wav)
        inputs = self.processor(text=self.prompt.render(user_turn), audio=wav, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        unused = set(getattr(self.processor, "unused_input_names", None) or ())  # bookkeeping the forward does not take
        return {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in inputs.items() if k not in unused}

    def merged_embeddings(self, inputs: dict) -> Tensor:
        """(S, d): the decoder's input embeddings from the model's own forward on `inputs` (batch of 1).

        Gradients flow (to the projector) only in training mode; otherwise this runs without them."""
        with torch.set_grad_enabled(self.training and torch.is_grad_enabled()):
            return self._merged_embeddings(inputs)

    def _merged_embeddings(self, inputs: dict) -> Tensor:
        seen: dict = {}

        at_first_layer = self.family.merge_at == "first_layer"

        def record(module, args, kwargs):
            seen.update(kwargs)
            if at_first_layer:  # the decoder embeds inside its own forward: its first block's input is the merge
                seen["inputs_embeds"] = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
            raise _MergeDone

        target = self.decoder_layers()[0] if at_first_layer else self.text_decoder()
        handle = target.register_forward_pre_hook(record, with_kwargs=True)
        try:
            with self.family.audio_context(self._base(), [True]):
                self.model(**inputs)
        except _MergeDone:
            pass
        finally:
            handle.remove()
        if "inputs_embeds" not in seen:
            raise RuntimeError(f"{type(self._base()).__name__}'s forward never reached its text decoder")
        embeds, positions = seen["inputs_embeds"][0], seen.get("position_ids")
        if positions is not None:
            expected = torch.arange(embeds.shape[0], device=positions.device)
            if not bool((positions.reshape(-1, positions.shape[-1]) == expected).all()):
                raise NotImplementedError(f"{self.family.model_type}: the model's own positions for this input are not 0..S-1; "
                                          "this backend runs the decoder with sequential positions only")
        return embeds

    def _speech_item(self, user_turn: str, wav) -> PromptItem:
        inputs = self.processor_inputs(user_turn, wav)
        ids = inputs["input_ids"][0].tolist()
        start, end = placeholder_run(ids, self.family.audio_token_id(self._base().config), f"speech request {user_turn!r}")
        merged = self.merged_embeddings(inputs)
        return PromptItem(ids[:start], merged[start:end], ids[end:])

    def _twin_frame(self, user_turn: str) -> tuple[list[int], list[int]]:
        """Prefix and suffix ids of the speech prompt, expanded by the processor exactly as for speech."""
        key = (user_turn, self.prompt.system_prompt)
        if key not in self._twin_cache:
            silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
            ids = self.processor_inputs(user_turn, silence)["input_ids"][0].tolist()
            start, end = placeholder_run(ids, self.family.audio_token_id(self._base().config), f"text twin of {user_turn!r}")
            self._twin_cache[key] = (ids[:start], ids[end:])
        return self._twin_cache[key]

    def _text_item(self, user_turn: str, transcript: str | None) -> PromptItem:
        encode = lambda text: self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if AUDIO_PLACEHOLDER in user_turn:
            if not transcript:
                raise ValueError(f"the user turn {user_turn!r} holds <audio> but neither speech nor a transcript was given")
            prefix, suffix = self._twin_frame(user_turn)
            return PromptItem(list(prefix), encode(transcript), list(suffix))
        sentinel = "\uE000QUERY\uE000"
        rendered = self.prompt.render(sentinel)
        if rendered.count(sentinel) != 1:
            raise ValueError("the chat template must place the user message exactly once")
        before, after = rendered.split(sentinel)
        query = encode(user_turn)
        if not query:
            raise ValueError("the query is empty")
        return PromptItem(self.tokenizer(before)["input_ids"] if before else [], query, encode(after))

    def build_items(self, user_turns: Sequence[str], wavs: Sequence | None = None,
                    transcripts: Sequence[str | None] | None = None) -> list[PromptItem]:
        wavs = list(wavs) if wavs is not None else [None] * len(user_turns)
        transcripts = list(transcripts) if transcripts is not None else [None] * len(user_turns)
        items = []
        for turn, wav, transcript in zip(user_turns, wavs, transcripts):
            if wav is not None:
                if AUDIO_PLACEHOLDER not in turn:
                    raise ValueError(f"speech was given but the user turn {turn!r} has no <audio> placeholder to put it in")
                items.append(self._speech_item(turn, wav))
            else:
                items.append(self._text_item(turn, transcript))
        return items

    def collate(self, items: Sequence[PromptItem], padding_side: str = "left") -> PromptBatch:
        batch = collate(items, self.embed_tokens, padding_side)
        return PromptBatch(
            batch.inputs_embeds.to(self.device, self.dtype), batch.attention_mask.to(self.device), batch.position_ids.to(self.device),
            batch.span_start, batch.span_len, None if batch.labels is None else batch.labels.to(self.device),
            speech_rows=batch.speech_rows,
        )

    # ---------------------------------------------------------------- running
    def forward(self, batch: PromptBatch, **kwargs):
        with self.family.audio_context(self._base(), batch.speech_rows):
            return self.model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                              position_ids=batch.position_ids, labels=batch.labels, **kwargs)

    def response_logits(self, batch: PromptBatch) -> tuple[Tensor, Tensor]:
        """(logits (n, V), targets (n,)) of the response tokens (not every family's forward takes
        `logits_to_keep`, so the full logits are computed and masked)."""
        keep = predicts_response(batch.labels)
        with self.family.audio_context(self._base(), batch.speech_rows):
            logits = self.model(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                                position_ids=batch.position_ids).logits
        return logits[keep], batch.labels[:, 1:][keep[:, :-1]]

    def generate(self, batch: PromptBatch, max_new_tokens: int = 256, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0, stop: Sequence[str] = (), max_rows: int | None = None,
                 stats=None) -> list[str]:
        """Through lslm_eval.generation (finished rows leave, stop strings while decoding, `max_rows` refills)."""
        from .. import generation

        rows = batch.speech_rows
        if rows is not None and any(rows) and not all(rows) and self.family.switches_by_modality(self._base()):
            texts: list[str] = [""] * len(rows)
            for modality in (True, False):
                chosen = [row for row, speech in enumerate(rows) if speech == modality]
                part = self.generate(select_rows(batch, chosen), max_new_tokens, do_sample, temperature, top_p, stop, max_rows, stats)
                for row, text in zip(chosen, part):
                    texts[row] = text
            return texts
        with self.family.audio_context(self._base(), rows):
            return generation.generate(self.model, self.tokenizer, batch, max_new_tokens, do_sample, temperature, top_p,
                                       stop, max_rows=max_rows, stats=stats)

    # ---------------------------------------------------------------- training
    def frozen_speech(self, wav):
        """What of the speech path never trains, for the trainer to cache: here the waveform itself
        (the audio encoder runs inside the model's own forward)."""
        return wav

    def speech_parameters(self) -> list[nn.Parameter]:
        """The projector's parameters (the family's `projector` modules): trainable with the LoRA."""
        wanted = [f".{name}." for name in self.family.projector]
        params = [p for n, p in self.model.named_parameters() if any(w in f".{n}." for w in wanted) and "lora_" not in n]
        if not params:
            raise ValueError(f"{self.family.model_type}: no parameters under {self.family.projector}: name the family's projector")
        return params

    def lora_target_modules(self, leaf_names: Sequence[str]) -> list[str]:
        """The full names of the text decoder's modules whose last name part is in `leaf_names` (or the
        family's fused projection holding one, e.g. Phi's qkv_proj); LoRA goes on the language model's
        decoder layers only: never on the audio encoder or the projector."""
        decoder, layers = self.text_decoder(), self.decoder_layers()
        wanted = set(leaf_names) | {self.family.fused[n] for n in leaf_names if n in self.family.fused}
        prefix = next(name for name, module in self._base().named_modules() if module is layers)
        chosen = [name for name, module in self._base().named_modules()
                  if name.startswith(prefix + ".") and isinstance(module, nn.Linear) and "lora_" not in name
                  and (list(leaf_names) == ["all-linear"] or name.rsplit(".", 1)[-1] in wanted)]
        if not chosen:
            raise ValueError(f"no linear layers named {list(leaf_names)} in {type(decoder).__name__}")
        return chosen

    def trainable_state(self) -> dict[str, Tensor]:
        """The trained parameters that are not LoRA (the projector), by name."""
        return {n: p.detach().to("cpu").contiguous() for n, p in self.model.named_parameters() if p.requires_grad and "lora_" not in n}

    def save_pretrained(self, path: str | os.PathLike, save_full_llm: bool = False, extra=None) -> Path:
        """backend.json (base model + prompt settings), trained.safetensors (projector), adapter/ (PEFT),
        written atomically; `extra(directory)` may add files (a trainer's state) first."""
        import shutil
        import tempfile

        from safetensors.torch import save_file

        if save_full_llm:
            raise ValueError("a native audio LM saves its trained parts (LoRA + projector), not a full copy")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            save_file(self.trainable_state(), str(tmp / TRAINED_FILE))
            if hasattr(self.model, "peft_config"):
                self.model.save_pretrained(str(tmp / PEFT_DIR))
            if extra is not None:
                extra(tmp)
            (tmp / BACKEND_FILE).write_text(json.dumps({"hf": self.config.hf, "family": self.config.family,
                                                        "system_prompt": self.config.system_prompt, "extra": self.config.extra}, indent=2))
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return path

    def load_trained(self, path: str | os.PathLike) -> None:
        """Put a `save_pretrained` directory's PEFT adapter and projector into this model (wrapping it
        with the adapter, or filling the adapter it already has)."""
        from safetensors.torch import load_file

        path = Path(path)
        if (path / PEFT_DIR).is_dir():
            if hasattr(self.model, "peft_config"):
                from peft import set_peft_model_state_dict

                result = set_peft_model_state_dict(self.model, load_file(str(path / PEFT_DIR / "adapter_model.safetensors")))
                if result.unexpected_keys:
                    raise ValueError(f"{path / PEFT_DIR}: adapter tensors {result.unexpected_keys[:5]} do not fit the model")
            else:
                from peft import PeftModel

                self.model = PeftModel.from_pretrained(self.model, str(path / PEFT_DIR)).eval()
        state = load_file(str(path / TRAINED_FILE)) if (path / TRAINED_FILE).is_file() else {}
        params = {n.replace("base_model.model.", ""): p for n, p in self.model.named_parameters()}
        unknown = sorted(set(k.replace("base_model.model.", "") for k in state) - set(params))
        if unknown:
            raise ValueError(f"{path / TRAINED_FILE}: tensors {unknown[:5]} are not parameters of {type(self._base()).__name__}")
        with torch.no_grad():
            for name, tensor in state.items():
                param = params[name.replace("base_model.model.", "")]
                if param.shape != tensor.shape:
                    raise ValueError(f"{path / TRAINED_FILE}: {name} has shape {tuple(tensor.shape)}, the model {tuple(param.shape)}")
                param.copy_(tensor.to(param.dtype))
