"""lm-eval model `lslm`: speech and text requests through one LSLM.

    lm_eval --model lslm --tasks voicebench_sdqa,voicebench_sdqa_text
    lm_eval --model lslm --model_args checkpoint=OUT/checkpoint-2000,device=cuda --tasks ...

A speech request carries `{"audio": [{"bytes", "path"} or {"array", "sampling_rate"}, with "transcript"?,
"id"?]}` (the tasks' `doc_to_audio` give the encoded bytes: lm-eval's `--use_cache` keys on them, and
the model decodes and checks them, `bad_audio=`); its context holds `<audio>` where the speech goes (appended at the end when
a foreign task has no placeholder). Text requests are plain contexts. The chat template is applied
by the model (`apply_chat_template=True`, the default), identically for both modalities.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from lm_eval.api.instance import Instance
from lm_eval.api.model import TemplateLM
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tqdm import tqdm

from lslm_eval import skips
from lslm_eval.audio import SAMPLE_RATE, AudioError, load_audio
from lslm_eval.backends import load_backend
from lslm_eval.benchmarks import TEXT_AT_BASE
from lslm_eval.model import DEFAULT_CHECKPOINT
from lslm_eval.prompt import AUDIO_PLACEHOLDER

log = logging.getLogger(__name__)
DEFAULT_MAX_GEN_TOKS = 256
DEFAULT_BATCH_SIZE = 8  # also what `auto` / `auto:N` give: no batch-size search is done
REFILL_CHUNKS = 8  # batches' worth of requests per refilling generate call
ENCODER_FRAMES_PER_SECOND = 50  # Whisper: 20 ms per encoder frame
TRUE_WORDS = {"1", "true", "yes", "on"}
LM_EVAL_EXTRAS = ("batch_size", "max_batch_size", "device")  # lm-eval passes these to every model it builds: all known


class ModelArgError(ValueError):
    """A `--model_args` entry that lslm does not know, or a value it cannot use."""


def as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in TRUE_WORDS


def parse_batch_size(value: Any) -> int:
    """A positive integer; `auto` / `auto:N` give DEFAULT_BATCH_SIZE."""
    if str(value).startswith("auto"):
        return DEFAULT_BATCH_SIZE
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if size < 1 or str(size) != str(value).strip():
        raise ModelArgError(f"lslm: batch_size must be a positive integer or 'auto', got {value!r}")
    return size


def merge_model_args(known: list[str], args: dict[str, Any], extras: dict[str, Any] | None) -> dict[str, Any]:
    """`--model_args` merged with what lm-eval adds (`--batch_size`, `--device`...): a model argument wins over
    lm-eval's value of the same name (lm-eval always sends its own batch_size, 1 unless given); an argument not
    in `known` is an error that lists the known ones."""
    unknown = sorted(set(args) - set(known))
    if unknown:
        hints = [f"{name!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(name, known, n=1)) else repr(name)
                 for name in unknown]
        raise ModelArgError(f"lslm: unknown model argument {', '.join(hints)}; known: {', '.join(sorted(known))}")
    merged = {k: v for k, v in (extras or {}).items() if v is not None and k in known and k not in args}
    merged.update(args)
    return merged


class LSLMEval(TemplateLM):
    """Model args: hf=HUB_ID_OR_DIR (a transformers-native audio LM, with trust_remote_code), or
    checkpoint (alias pretrained), encoder, llm, gguf_file, tokenizer_name,
    chat_template, apply_chat_template, system_prompt, dtype, device, batch_size, seed, max_gen_toks;
    probe=DIR (with probe_items, probe_cka_aligned) records paired speech/text statistics into DIR;
    intervene=angle|length|calibrate|calibrate_mean (with targets=bottomK|all, layer, stats=FILE,
    allow_overlap) edits the speech span at the prefill (lslm_eval.intervene);
    bad_audio=stop (default: an unusable recording stops the run, every bad item named) or skip (bad items and
    their text twins are left out of every metric and listed in the results, lslm_eval.skips);
    arm=text@base answers the text twins with the original LLM (lslm_eval.arms)."""

    MULTIMODAL = True

    def __init__(self, pretrained: str | None = None, checkpoint: str | None = None, hf: str | None = None,
                 trust_remote_code: bool | str = False, encoder: str | None = None,
                 llm: str | None = None, gguf_file: str | None = None, tokenizer_name: str | None = None,
                 chat_template: str | None = None, apply_chat_template: bool | str = True, system_prompt: str | None = None,
                 dtype: str = "auto", device: str | None = None, batch_size: int | str = 8, seed: int = 1234,
                 max_gen_toks: int = DEFAULT_MAX_GEN_TOKS, max_length: int = 4096, probe: str | None = None,
                 probe_items: bool | str = False, probe_cka_aligned: str = "diagonal", intervene: str | None = None,
                 targets: str | None = None, layer: int | str | None = None, stats: str | None = None,
                 allow_overlap: bool | str = False, bad_audio: str = "stop", max_batch_size: int | str | None = None,
                 arm: str | None = None):
        super().__init__()
        self.batch_size = parse_batch_size(batch_size)  # checked before anything loads
        if bad_audio not in skips.BAD_AUDIO_MODES:
            raise ModelArgError(f"lslm: bad_audio must be one of {', '.join(skips.BAD_AUDIO_MODES)}, got {bad_audio!r}")
        self.bad_audio = bad_audio
        self.skipped: list[skips.Skipped] = []
        if device is None or (str(device).startswith("cuda") and not torch.cuda.is_available()):
            if device is not None:  # lm-eval passes its --device default ("cuda") on every machine
                log.warning("lslm: %s is not available here; running on the CPU", device)
            device = "cuda" if torch.cuda.is_available() else "cpu"
        device = self._setup_ranks(device)
        self.seed = int(seed)
        torch.manual_seed(self.seed)
        overrides = {k: v for k, v in {"encoder": encoder, "llm": llm, "gguf_file": gguf_file, "tokenizer": tokenizer_name,
                                        "chat_template": chat_template, "system_prompt": system_prompt}.items() if v is not None}
        checkpoint = checkpoint or pretrained
        if hf is None and checkpoint is None and not (encoder or llm):
            checkpoint = str(DEFAULT_CHECKPOINT)
        self.model = load_backend(hf, checkpoint, overrides, device=device, dtype=dtype, seed=self.seed,
                                  trust_remote_code=as_bool(trust_remote_code))
        if not as_bool(apply_chat_template):
            if hf is not None:
                raise ValueError("apply_chat_template=false: a native audio LM takes audio only inside its own chat template")
            self.model.prompt = type(self.model.prompt)(self.model.tokenizer, apply_chat_template=False)
        self.checkpoint = checkpoint
        self.tokenizer = self.model.tokenizer
        self.max_gen_toks = int(max_gen_toks)
        self.max_length = int(max_length)
        self.prober = None
        self._probed: set[int] = set()
        if probe:
            from lslm_eval.probe.runner import Prober

            info = {"model": "lslm", "checkpoint": checkpoint, **self.model_parts(), "tasks": []}
            self.prober = Prober(probe, info, cka_aligned_pairs=probe_cka_aligned, keep_items=as_bool(probe_items))
        self.allow_overlap = as_bool(allow_overlap)
        from lslm_eval.arms import base_llm, check_arm

        self.arm = check_arm(arm)  # text@base: the original LLM answers (lslm_eval.arms)
        self._arm_context = base_llm(self.model, checkpoint) if self.arm == TEXT_AT_BASE else contextlib.nullcontext
        if self.arm == TEXT_AT_BASE:
            self.tokenizer = self.model.tokenizer
        self.intervention = None
        if intervene:
            from lslm_eval.intervene.settings import Intervention

            self.set_intervention(Intervention.from_args(intervene, targets, layer, stats))
        elif targets is not None or layer is not None or stats is not None:
            raise ValueError("targets, layer and stats configure an intervention: add intervene=angle|length|calibrate|calibrate_mean")

    @classmethod
    def known_model_args(cls) -> list[str]:
        """Every `--model_args` name lslm accepts: its constructor's parameters (lm-eval's extras among them)."""
        names = [name for name, p in inspect.signature(cls.__init__).parameters.items() if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]
        assert set(LM_EVAL_EXTRAS) <= set(names), "lm-eval passes batch_size, max_batch_size and device to every model"
        return names

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> "LSLMEval":
        from lm_eval.utils import simple_parse_args_string

        return cls.create_from_arg_obj(simple_parse_args_string(arg_string), additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict[str, Any], additional_config: dict | None = None) -> "LSLMEval":
        return cls(**merge_model_args(cls.known_model_args(), dict(arg_dict), additional_config))

    def _setup_ranks(self, device: str) -> str:
        """Under `accelerate launch` with several processes: rank and world size from accelerate (as
        lm-eval's `hf` model does; the evaluator then gives each rank its share of the documents),
        and this process's device. Returns the device to load onto."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return device
        from datetime import timedelta

        from accelerate import Accelerator, InitProcessGroupKwargs

        accelerator = Accelerator(kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(weeks=52))])
        if accelerator.num_processes <= 1:
            return device
        self.accelerator = accelerator
        self._rank, self._world_size = accelerator.process_index, accelerator.num_processes
        if accelerator.device.type != torch.device(device).type:
            log.warning("lslm: rank %d runs on %s (from accelerate), not %s", self._rank, accelerator.device, device)
        return str(accelerator.device)

    # lm-eval's data-parallel primitives (evaluator.evaluate calls them when world_size > 1)
    @property
    def device(self):
        return self.model.device

    def all_gather(self, tensor):
        return tensor if self.world_size <= 1 else self.accelerator.gather(tensor)

    def gather_object(self, obj, dst: int = 0):
        if self.world_size <= 1:
            return [obj]
        result = [None] * self.world_size if self.rank == dst else None
        torch.distributed.gather_object(obj=obj, object_gather_list=result, dst=dst)
        return result

    def _share_records(self, records: list[dict]) -> list[dict]:
        """Every rank's records (JSON text, gathered with torch.distributed like lm-eval's own gather)."""
        gathered = [None] * self.world_size
        torch.distributed.all_gather_object(gathered, json.dumps(records))
        return [record for part in gathered for record in json.loads(part)]

    def barrier(self) -> None:
        if self.world_size > 1:
            self.accelerator.wait_for_everyone()

    def model_parts(self) -> dict[str, str]:
        """What the weights are, for result files: {hf} for a native audio LM, {encoder, llm} for an LSLM."""
        return {k: getattr(self.model.config, k) for k in ("hf", "encoder", "llm") if hasattr(self.model.config, k)}

    def set_intervention(self, setting=None) -> None:
        """Switch the intervention (an `intervene.settings.Intervention`, or None for none) between runs."""
        if setting is not None:
            from lslm_eval.intervene.hooks import check_layer

            check_layer(self.model, setting)
        self.intervention = setting

    # ---------------------------------------------------------------- lm-eval plumbing
    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name_or_path.replace("/", "__")

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        return self.tokenizer(string, add_special_tokens=bool(add_special_tokens))["input_ids"]

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The harness's --apply_chat_template: the model templates every request itself, so the
        user turn passes through (few-shot turns are joined); a system message sets the system prompt."""
        system = [m["content"] for m in chat_history if m["role"] == "system"]
        if system and system[0] != self.model.prompt.system_prompt:
            self.model.prompt = self.model.prompt.with_system_prompt(system[0])
        return "\n\n".join(m["content"] for m in chat_history if m["role"] != "system")

    # ---------------------------------------------------------------- generation
    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Screen the recordings (bad_audio=stop raises naming every bad item; skip answers them and their text
        twins with lslm_eval.skips' marker, which the tasks score as absent), then generate the rest."""
        skipped = skips.screen(requests, self.bad_audio, self._share_records if self.world_size > 1 else None)
        records = [s.record() for s in skipped.values()]
        listed = {(k.task, k.doc_id) for k in self.skipped}  # once each: lm-eval pads a rank's share with copies
        for record in self._share_records(records) if self.world_size > 1 else records:  # rank 0 lists every rank's
            if (record["task"], record["doc_id"]) not in listed:
                listed.add((record["task"], record["doc_id"]))
                self.skipped.append(skips.Skipped(**record))
        if skipped:
            log.warning("lslm: skipping %d request(s) with unusable recordings (and their text twins): %s", len(skipped),
                        "; ".join(f"{skips.label(s.task, s.doc_id, s.item_id)}: {s.reason}" for s in list(skipped.values())[:10]))
        live = [i for i in range(len(requests)) if i not in skipped]
        with self._arm_context():  # arm=text@base: the original LLM answers (lslm_eval.arms)
            answers = self._generate_until([requests[i] for i in live], disable_tqdm) if live else []
        results = [skips.skipped_response(skipped[i].reason) if i in skipped else None for i in range(len(requests))]
        for i, answer in zip(live, answers):
            results[i] = answer
        return results

    def _generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Longest prompts first; with no hooks (probe, intervention) `REFILL_CHUNKS` batches' worth
        of requests go to one `generate` call that decodes `batch_size` rows at a time and refills
        the slots of finished rows; with hooks each batch is one prefill, as the hooks need."""
        torch.manual_seed(self.seed)
        if self.arm == TEXT_AT_BASE and any(len(r.args) > 2 and (r.args[2] or {}).get("audio") for r in requests):
            raise ValueError(f"arm={TEXT_AT_BASE} answers text twins only; task {requests[0].task_name} gives audio")
        self._refuse_calibration_overlap(requests)
        self._probed: set[int] = set()  # lm-eval pads a rank's share with copies of one request: probe it once
        lengths = [self._expected_length(request) for request in requests]  # (is speech, prompt length)
        order = sorted(range(len(requests)), key=lambda i: (lengths[i][0], -lengths[i][1]))
        hooks = self.prober is not None or self.intervention is not None
        chunk_size = self.batch_size * (1 if hooks else REFILL_CHUNKS)
        results: list[str | None] = [None] * len(requests)
        bar = tqdm(total=len(requests), desc="lslm generate_until", disable=disable_tqdm or self.rank != 0)
        for group in self._group_by_gen_kwargs(requests, order):
            for start in range(0, len(group), chunk_size):
                chunk = group[start : start + chunk_size]
                texts = self._generate_batch([requests[i] for i in chunk], max_rows=None if hooks else self.batch_size)
                for i, text in zip(chunk, texts):
                    results[i] = text
                    self.cache_hook.add_partial("generate_until", requests[i].args, text)  # the audio is in the key
                bar.update(len(chunk))
        bar.close()
        if self.prober is not None:
            self._write_probe()
        return results

    def _expected_length(self, request: Instance) -> tuple[bool, float]:
        """(whether it is a speech request, its prompt length in LLM positions estimated without
        encoding): requests are ordered by it, so a batch holds one modality and similar lengths."""
        context = request.args[0]
        media = request.args[2] if len(request.args) > 2 else {}
        audios = (media or {}).get("audio") or []
        length = float(len(self.tok_encode(context.replace(AUDIO_PLACEHOLDER, ""))))
        if audios:
            audio = audios[0]
            if isinstance(audio, dict) and audio.get("array") is not None:
                seconds = len(audio["array"]) / float(audio.get("sampling_rate", SAMPLE_RATE))
            else:
                seconds = load_audio(audio).size / SAMPLE_RATE
            length += seconds * ENCODER_FRAMES_PER_SECOND / max(1, getattr(self.model.config, "stack", 1))
        return bool(audios), length

    def _write_probe(self) -> None:
        """Merge every rank's probing statistics into rank 0's and write them there."""
        prober = self.prober
        if self.world_size > 1:
            shards = self.gather_object(prober)
            if self.rank != 0:
                return
            for shard in shards[1:]:
                prober.merge(shard)
        if prober.stats.n_items:
            log.info("lslm: probe results in %s", prober.write())

    @staticmethod
    def _group_by_gen_kwargs(requests: list[Instance], order: list[int]) -> list[list[int]]:
        groups: dict[str, list[int]] = {}
        for i in order:
            groups.setdefault(repr(sorted(requests[i].args[1].items())), []).append(i)
        return list(groups.values())

    def _generate_batch(self, requests: list[Instance], max_rows: int | None = None) -> list[str]:
        unpacked = [self._unpack(request) for request in requests]
        turns, wavs, transcripts, keys = (list(column) for column in zip(*unpacked))
        gen_kwargs = dict(requests[0].args[1])
        until = gen_kwargs.pop("until", None) or []
        until = [until] if isinstance(until, str) else list(until)
        batch = self.model.collate(self.model.build_items(turns, wavs, transcripts))
        options = {"max_new_tokens": int(gen_kwargs.get("max_gen_toks", self.max_gen_toks)), "stop": until,
                   "do_sample": as_bool(gen_kwargs.get("do_sample", False)),
                   "temperature": float(gen_kwargs.get("temperature") or 1.0), "top_p": float(gen_kwargs.get("top_p", 1.0))}
        paired = []  # a padding copy may share the batch with its original: probe the first only
        for row, (wav, text) in enumerate(zip(wavs, transcripts)):
            if wav is not None and text and id(requests[row]) not in self._probed:
                self._probed.add(id(requests[row]))
                paired.append(row)
        with self._intervention(batch, wavs, turns, transcripts) as batch:  # edits the speech span at the prefill
            generate = lambda: self.model.generate(batch, max_rows=max_rows, **options)
            if self.prober is None or not paired:
                return generate()
            from lslm_eval.probe.hooks import capture_layers, span_states
            from lslm_eval.probe.twin import text_twin_states

            with capture_layers(self.model, first_call_only=True) as captured:  # the speech pass is the prefill
                texts = generate()
        speech = [span_states(batch, captured, row) for row in paired]
        text = text_twin_states(self.model, [turns[r] for r in paired], [transcripts[r] for r in paired])
        for hs, ht, row in zip(speech, text, paired):
            self.prober.add(hs, ht, keys[row])
        for request in requests:
            if request.task_name not in self.prober.info["tasks"]:
                self.prober.info["tasks"].append(request.task_name)
        return texts

    def _intervention(self, batch, wavs: list, turns: list[str], transcripts: list[str | None]):
        """A context yielding the batch to generate from: edited at the prefill when an intervention is set."""
        if self.intervention is None:
            return contextlib.nullcontext(batch)
        from lslm_eval.intervene.hooks import intervention

        speech_rows = [row for row, wav in enumerate(wavs) if wav is not None]
        return intervention(self.model, batch, self.intervention, speech_rows, turns, transcripts)

    def _refuse_calibration_overlap(self, requests: list[Instance]) -> None:
        """Calibration statistics must come from items that are not evaluated (SPEC §6)."""
        if self.intervention is None or self.intervention.stats is None:
            return
        from lslm_eval.intervene.calibration import check_overlap

        wavs = (wav for wav in (self._unpack(request)[1] for request in requests) if wav is not None)
        check_overlap(self.intervention.stats, wavs, allow=self.allow_overlap)

    @staticmethod
    def _unpack(request: Instance) -> tuple[str, Any, str | None, str | None]:
        """(user turn, waveform or None, transcript or None, item key or None) of one request."""
        context = request.args[0]
        media = request.args[2] if len(request.args) > 2 else {}
        audios = media.get("audio") or []
        if not audios:
            return context, None, None, None
        if len(audios) > 1:
            raise ValueError(f"lslm takes one audio per request, got {len(audios)}")
        audio = audios[0]
        if AUDIO_PLACEHOLDER not in context:
            context = f"{context}{AUDIO_PLACEHOLDER}"
        meta = audio if isinstance(audio, dict) else {}
        key = meta.get("id") or f"{request.task_name}/{request.doc_id}"
        try:
            wav = load_audio(audio)
        except AudioError as err:
            raise AudioError(f"{skips.label(request.task_name, request.doc_id, meta.get('id'))}: {err}") from err
        return context, wav, meta.get("transcript"), str(key)

    # ---------------------------------------------------------------- text-path likelihoods
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        with self._arm_context():
            return self._text_loglikelihoods(requests, disable_tqdm)

    def _text_loglikelihoods(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        results = []
        for (_, context_enc, continuation_enc) in tqdm(requests, desc="lslm loglikelihood", disable=disable_tqdm or self.rank != 0):
            tokens = (context_enc + continuation_enc)[-(self.max_length + 1) :]
            inputs = torch.tensor([tokens[:-1]], device=self.model.device)
            with torch.no_grad():
                logits = self.model.language_model(input_ids=inputs).logits[0, -len(continuation_enc) :].float()
            target = torch.tensor(continuation_enc, device=logits.device)
            logprobs = F.log_softmax(logits, dim=-1)
            total = logprobs.gather(1, target[:, None]).sum().item()
            greedy = bool((logits.argmax(dim=-1) == target).all())
            results.append((total, greedy))
            self.cache_hook.add_partial("loglikelihood", requests[len(results) - 1][0], (total, greedy))
        return results

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list[float]:
        results = []
        for request in tqdm(requests, desc="lslm loglikelihood_rolling", disable=disable_tqdm or self.rank != 0):
            windows = map(make_disjoint_window, get_rolling_token_windows(
                self.tok_encode(request.args[0]), self.prefix_token_id, self.max_length, context_len=1))
            scores = self._loglikelihood_tokens([(None, ctx, cont) for ctx, cont in windows], disable_tqdm=True)
            results.append(sum(score for score, _ in scores))
        return results

    def get_model_info(self) -> dict:
        """What lm-eval records in the results' config: the model, the intervention, and the skipped items."""
        return {**self._model_info(), "bad_audio": self.bad_audio, "skipped_items": [s.record() for s in self.skipped]}

    def _model_info(self) -> dict:
        return {"checkpoint": str(Path(self.checkpoint).resolve()) if self.checkpoint else None, **vars(self.model.config),
                "arm": self.arm,
                "intervention": self.intervention.record() if self.intervention is not None else None}
