"""LSLM = Whisper encoder + adaptor + Hugging Face causal LM (+ PEFT adapter), SPEC §1.

A checkpoint directory (`save_pretrained` / `from_pretrained`) holds:
    config.json            LSLMConfig: which encoder and LLM, adaptor shape, prompt settings
    adaptor.safetensors    the adaptor weights
    adapter/               optional PEFT adapter of the LLM (PEFT's own save_pretrained)
    llm/                   optional fully fine-tuned LLM (transformers' save_pretrained)
The encoder and base LLM are referenced by name or path, not copied. config.json records the sha256
of every weight file (`weights_sha256`), checked on load (lslm_eval.integrity); a checkpoint written
before that record existed is checked for finite tensors instead.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from . import generation, integrity
from .adaptor import Adaptor
from .encoder import SpeechEncoder, load_encoder
from .generation import DecodeStats, cut_at_stop  # noqa: F401  (cut_at_stop: re-exported)
from .probe.hooks import find_decoder_layers
from .prompt import PromptBatch, PromptBuilder, PromptItem, collate, predicts_response

CONFIG_FILE = "config.json"
ADAPTOR_FILE = "adaptor.safetensors"
PEFT_DIR = "adapter"
FULL_LLM_DIR = "llm"
OFFLINE_ENCODER = "tiny.en-offline"  # lslm_eval.offline.WHISPER_OFFLINE_NAME
OFFLINE_LLM = "offline:SmolLM2-135M-Instruct"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "offline-default"  # shipped, trained here


class CheckpointError(ValueError):
    """A checkpoint that is missing, incomplete, or does not fit the encoder / LLM it names."""


@dataclass
class LSLMConfig:
    encoder: str = OFFLINE_ENCODER  # openai-whisper name ("large-v3"), checkpoint path, or offline name
    llm: str = OFFLINE_LLM  # hub id, local directory, or offline name
    gguf_file: str | None = None  # a GGUF file inside `llm` to load (dequantized) instead of safetensors
    tokenizer: str | None = None  # defaults to `llm`
    stack: int = 5  # encoder frames per speech embedding
    adaptor_hidden: int = 2048
    activation: str = "gelu"
    ctc_tokens: int = 0  # > 0: CTC compression over that many token classes (lslm_eval.compress), one row per token said
    ctc_rows: str = "frames"  # what a compressed row averages (lslm_eval.compress ROWS): "frames" or "posterior"
    encoder_dim: int | None = None  # filled from the loaded encoder; checked on load
    llm_dim: int | None = None  # filled from the loaded LLM; checked on load
    system_prompt: str | None = None
    chat_template: str | None = None  # a Jinja template to use instead of the tokenizer's
    padded_encoding: bool = False  # True: Whisper's original 30 s window
    extra: dict = field(default_factory=dict)  # free-form provenance (training recipe, step...)
    weights_sha256: dict = field(default_factory=dict)  # {weight file: sha256}, written by save_pretrained

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "LSLMConfig":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"unknown keys in {CONFIG_FILE}: {unknown}")
        return cls(**data)


def resolve_dtype(dtype: str | torch.dtype, device: str | torch.device) -> torch.dtype:
    """'auto' is bfloat16 on CUDA, float32 elsewhere."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise ValueError(f"dtype must be auto, float32, float16 or bfloat16; got {dtype!r}") from None


def resolve_llm_path(name: str) -> str:
    if name == OFFLINE_LLM:
        from .offline import smollm2_checkpoint

        return str(smollm2_checkpoint())
    return name


def load_llm(config: LSLMConfig, dtype: torch.dtype, device: str | torch.device):
    """The causal LM and its tokenizer: hub id, local directory or GGUF file."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_llm_path(config.llm)
    tokenizer_path = resolve_llm_path(config.tokenizer or config.llm)
    gguf = {"gguf_file": config.gguf_file} if config.gguf_file else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, **({} if config.tokenizer else gguf))
        llm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **gguf)
    except OSError as err:
        raise CheckpointError(
            f"cannot load the LLM {config.llm!r}: {err}\n"
            "Give a local directory (or a hub id while online); without any, the offline default "
            f"{OFFLINE_LLM!r} works with no network."
        ) from err
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return llm.to(device).eval(), tokenizer


class LSLM(nn.Module):
    """Speech and text in, text out: the Whisper + adaptor backend (`backends.base.SpeechLM`).

    `build_items` + `collate` make batches; `forward` runs the LLM from them; `generate` answers;
    `decoder_layers()` names the blocks the probe and intervention hooks attach to."""

    def __init__(self, config: LSLMConfig, encoder: SpeechEncoder, adaptor: Adaptor, llm: nn.Module, tokenizer):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.adaptor = adaptor
        self.llm = llm
        self.tokenizer = tokenizer
        self.prompt = PromptBuilder(tokenizer, config.system_prompt, config.chat_template)
        self.source: str | None = None  # the checkpoint directory it was loaded from
        head = llm.get_output_embeddings() if hasattr(llm, "get_output_embeddings") else None
        if head is not None:
            integrity.guard_logits(head, self.describe)

    def describe(self) -> str:
        """Which model this is, for errors: its checkpoint, else its encoder and LLM."""
        return f"checkpoint {self.source}" if self.source else f"the model with encoder {self.config.encoder!r} and LLM {self.config.llm!r}"

    # ---------------------------------------------------------------- construction
    @classmethod
    def build(cls, config: LSLMConfig, device="cpu", dtype="auto", seed: int = 0) -> "LSLM":
        """Load encoder and LLM; a fresh adaptor initialised from `seed`."""
        torch_dtype = resolve_dtype(dtype, device)
        encoder = load_encoder(config.encoder, device, config.padded_encoding)
        encoder.compute_dtype = torch_dtype
        llm, tokenizer = load_llm(config, torch_dtype, device)
        config.encoder_dim, config.llm_dim = encoder.dim, llm.get_input_embeddings().embedding_dim
        torch.manual_seed(seed)
        adaptor = Adaptor.from_config(config)
        return cls(config, encoder, adaptor.to(device=device, dtype=torch_dtype), llm, tokenizer)

    @classmethod
    def from_components(cls, config: LSLMConfig, encoder: SpeechEncoder, llm: nn.Module, tokenizer, seed: int = 0) -> "LSLM":
        """Assemble from already-built parts (tests use tiny random ones)."""
        config.encoder_dim, config.llm_dim = encoder.dim, llm.get_input_embeddings().embedding_dim
        torch.manual_seed(seed)
        adaptor = Adaptor.from_config(config)
        param = next(llm.parameters())
        return cls(config, encoder, adaptor.to(device=param.device, dtype=param.dtype), llm, tokenizer)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device="cpu", dtype="auto", **overrides) -> "LSLM":
        """Load a checkpoint directory; `overrides` replace config fields (e.g. encoder=a local path)."""
        path = Path(path)
        if not (path / CONFIG_FILE).is_file() or not (path / ADAPTOR_FILE).is_file():
            raise CheckpointError(f"not an lslm-eval checkpoint: {path} needs {CONFIG_FILE} and {ADAPTOR_FILE}")
        from . import portable
        from .widths import check_widths

        config = verify_checkpoint(path)
        saved_dims = (config.encoder_dim, config.llm_dim)
        full_llm = (path / FULL_LLM_DIR).is_dir()
        given = set(overrides) | ({"llm", "tokenizer"} if full_llm else set())
        portable.check_parts(config, path, given)  # a part missing here is named before anything loads
        for part in portable.PARTS:
            setattr(config, part, portable.from_stored(getattr(config, part), path))
        for key, value in overrides.items():
            setattr(config, key, value)
        if full_llm:
            config.llm, config.gguf_file = str(path / FULL_LLM_DIR), None
            config.tokenizer = config.tokenizer or str(path / FULL_LLM_DIR)
        check_widths(path, saved_dims, config)  # another encoder / LLM of another width: before the minute of loading
        model = cls.build(config, device, dtype)
        check_dims(path, saved_dims, (model.config.encoder_dim, model.config.llm_dim), config)
        model.adaptor.load_state_dict(load_adaptor_state(path / ADAPTOR_FILE, model.adaptor))
        if (path / PEFT_DIR).is_dir():
            from peft import PeftModel

            model.llm = PeftModel.from_pretrained(model.llm, str(path / PEFT_DIR)).eval()
        model.source = str(path)
        return model

    def save_pretrained(self, path: str | os.PathLike, save_full_llm: bool = False, extra: Callable[[Path], None] | None = None) -> Path:
        """Write the checkpoint atomically: a crash mid-save leaves no directory that looks complete.

        `extra(directory)` may add files (a trainer's state) before the directory is put in place."""
        from safetensors.torch import save_file

        from . import portable

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            state = {k: v.detach().to("cpu").contiguous() for k, v in self.adaptor.state_dict().items()}
            save_file(state, str(tmp / ADAPTOR_FILE))
            if hasattr(self.llm, "peft_config"):
                self.llm.save_pretrained(str(tmp / PEFT_DIR))
            if save_full_llm:
                base = self.llm.get_base_model() if hasattr(self.llm, "get_base_model") else self.llm
                base.save_pretrained(str(tmp / FULL_LLM_DIR))
                self.tokenizer.save_pretrained(str(tmp / FULL_LLM_DIR))
            if extra is not None:
                extra(tmp)
            stored = {part: portable.to_stored(getattr(self.config, part), path) for part in portable.PARTS}  # no absolute paths
            (tmp / CONFIG_FILE).write_text(replace(self.config, **stored, weights_sha256=integrity.record(tmp)).to_json())
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return path

    # ---------------------------------------------------------------- the backend interface
    @property
    def language_model(self) -> nn.Module:
        """The causal LM (PEFT wraps this one)."""
        return self.llm

    def decoder_layers(self) -> nn.ModuleList:
        """The LLM's decoder blocks; layer l of the hooks is the output of block l (1-based)."""
        return find_decoder_layers(self.llm)

    # ---------------------------------------------------------------- inputs
    @property
    def device(self) -> torch.device:
        return self.llm.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.llm.get_input_embeddings().weight.dtype

    def embed_tokens(self, ids: Tensor) -> Tensor:
        """ids (n,) -> (n, d_llm)."""
        return self.llm.get_input_embeddings()(ids.to(self.device))

    def embed_speech(self, wavs: Sequence[np.ndarray | Tensor]) -> list[Tensor]:
        """Each waveform (n_i,) 16 kHz -> speech embeddings (ceil(T_i / N), d_llm), or one per token said under CTC
        compression (config.ctc_tokens). An entry may instead be
        its encoder frames (T_i, d_enc) from `frozen_speech` (the trainer caches them): only the adaptor runs.

        Clips are encoded in padded batches whose padding is masked (SpeechEncoder.encode_batch:
        each clip's frames equal its unbatched frames); the adaptor runs per clip.
        """
        if not len(wavs):
            return []
        is_frames = [isinstance(w, Tensor) and w.ndim == 2 for w in wavs]
        encoded = iter(self.encoder.encode_batch([w for w, f in zip(wavs, is_frames) if not f]) if not all(is_frames) else [])
        param = next(self.adaptor.parameters())
        frames = [w.to(param.device, param.dtype) if f else next(encoded) for w, f in zip(wavs, is_frames)]
        table = self.llm.get_input_embeddings().weight
        embeddings = [self.adaptor.compress(self.adaptor(f.unsqueeze(0))[0], table) for f in frames]
        for embedding in embeddings:  # the audio was checked finite: non-finite here means damaged weights
            integrity.finite_or_raise(embedding, f"the speech embeddings of {self.describe()} (its encoder or adaptor weights are damaged)")
        return embeddings

    def frozen_speech(self, wav) -> Tensor:
        """What of the speech path never trains, for the trainer to cache: the encoder frames (T, d_enc)."""
        with torch.no_grad():
            return self.encoder(wav).cpu()

    def speech_parameters(self) -> list[nn.Parameter]:
        """The adaptor's parameters: trainable in every training mode (a CTC compressor's are not: it is the CTC
        stage's head, frozen after that stage)."""
        frozen = set() if self.adaptor.compressor is None else {id(p) for p in self.adaptor.compressor.parameters()}
        return [p for p in self.adaptor.parameters() if id(p) not in frozen]

    def build_items(self, user_turns: Sequence[str], wavs: Sequence | None = None, transcripts: Sequence[str | None] | None = None) -> list[PromptItem]:
        """One PromptItem per request; wavs[i] None (or no wavs) means a text request."""
        wavs = list(wavs) if wavs is not None else [None] * len(user_turns)
        transcripts = list(transcripts) if transcripts is not None else [None] * len(user_turns)
        speech_rows = [i for i, wav in enumerate(wavs) if wav is not None]
        speech = dict(zip(speech_rows, self.embed_speech([wavs[i] for i in speech_rows])))
        return [self.prompt.build(turn, speech.get(i), transcripts[i]) for i, turn in enumerate(user_turns)]

    def collate(self, items: Sequence[PromptItem], padding_side: str = "left") -> PromptBatch:
        batch = collate(items, self.embed_tokens, padding_side)
        return PromptBatch(
            batch.inputs_embeds.to(self.dtype), batch.attention_mask.to(self.device), batch.position_ids.to(self.device),
            batch.span_start, batch.span_len, None if batch.labels is None else batch.labels.to(self.device),
            speech_rows=batch.speech_rows,
        )

    # ---------------------------------------------------------------- running
    def forward(self, batch: PromptBatch, **kwargs):
        return self.llm(
            inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
            position_ids=batch.position_ids, labels=batch.labels, **kwargs,
        )

    def response_logits(self, batch: PromptBatch) -> tuple[Tensor, Tensor]:
        """(logits (n, V), targets (n,)) of a labelled batch's n response tokens, row-major. The vocabulary
        projection runs only from the first position that predicts one on (`logits_to_keep`): the prompts'
        positions (system turn, speech frames) never reach it, nor the loss's softmax."""
        keep = predicts_response(batch.labels)
        first = int(keep.any(0).nonzero()[0])
        logits = self.llm(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                          position_ids=batch.position_ids, logits_to_keep=keep.shape[1] - first).logits
        return logits[keep[:, first:]], batch.labels[:, 1:][keep[:, :-1]]

    def generate(self, batch: PromptBatch, max_new_tokens: int = 256, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0, stop: Sequence[str] = (), max_rows: int | None = None,
                 stats: DecodeStats | None = None) -> list[str]:
        """Left-padded batch -> one decoded continuation per row, cut at the first stop string
        (lslm_eval.generation: finished rows leave the batch; `max_rows` refills freed slots)."""
        return generation.generate(self.llm, self.tokenizer, batch, max_new_tokens, do_sample, temperature, top_p,
                                   stop, max_rows=max_rows, stats=stats)


def verify_checkpoint(path: str | os.PathLike) -> LSLMConfig:
    """The checkpoint's config, after checking its weight files against the sha256 it records; a checkpoint
    written before hashes were recorded has every tensor checked finite instead. Raises IntegrityError."""
    path = Path(path)
    config = LSLMConfig.from_json((path / CONFIG_FILE).read_text())
    if config.weights_sha256:
        integrity.verify(path, config.weights_sha256, f"checkpoint {path}")
    else:
        integrity.check_finite_files(path)
    return config


def check_dims(path: Path, saved: tuple, loaded: tuple, config: LSLMConfig) -> None:
    saved_enc, saved_llm = saved
    enc_dim, llm_dim = loaded
    if saved_enc is not None and saved_enc != enc_dim:
        raise CheckpointError(f"{path}: the adaptor was trained for encoder width {saved_enc}, but encoder {config.encoder!r} has width {enc_dim}")
    if saved_llm is not None and saved_llm != llm_dim:
        raise CheckpointError(f"{path}: the adaptor was trained for LLM width {saved_llm}, but LLM {config.llm!r} has width {llm_dim}")


def load_adaptor_state(file: Path, adaptor: Adaptor) -> dict[str, Tensor]:
    """Read adaptor weights (safetensors, no unpickling) and refuse shapes that do not fit, naming both."""
    state = integrity.load_safetensors(file)
    integrity.check_finite(state, file)
    expected = adaptor.state_dict()
    if set(state) != set(expected):
        raise CheckpointError(f"{file}: adaptor tensors {sorted(state)} do not match the model's {sorted(expected)}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(f"{file}: {name} has shape {tuple(tensor.shape)} in the checkpoint but {tuple(expected[name].shape)} in the model")
    return {name: tensor.to(expected[name].dtype) for name, tensor in state.items()}
