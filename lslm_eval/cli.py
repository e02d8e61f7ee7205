"""`lslm-eval`: every verb that is not an lm-eval run. Thin: parse arguments, call the library."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from dataclasses import fields
from pathlib import Path


def _coerce(kind: typing.Any, text: str):
    """A command-line string as the dataclass field's type."""
    import yaml

    value = yaml.safe_load(text)
    name = str(kind)
    if "float" in name and isinstance(value, (str, int)) and not isinstance(value, bool):
        return float(value)
    if "list" in name and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def train_config_from(args) -> "TrainConfig":
    """YAML file (optional) then `--key value` overrides -> TrainConfig."""
    import yaml

    from lslm_eval.trainers.train import TrainConfig

    data = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    extra = list(args.overrides)
    while extra:
        key = extra.pop(0)
        if not key.startswith("--") or not extra:
            raise SystemExit(f"overrides come as --key value pairs; got {key!r}")
        name = key[2:].replace("-", "_")
        if name not in kinds:
            raise SystemExit(f"unknown training option {name!r}; known: {sorted(kinds)}")
        data[name] = _coerce(kinds[name], extra.pop(0))
    return TrainConfig.from_dict(data)


def cmd_train(args) -> int:
    from lslm_eval.trainers.train import Trainer

    last = Trainer(train_config_from(args), resume=args.resume).run()
    if last is not None:
        print(f"last checkpoint: {last}")
    return 0


def cmd_data_instructions(args) -> int:
    from lslm_eval.trainers.instructions import make_instructions

    exclude = set()
    for path in args.exclude or []:
        exclude |= {json.loads(line)["instruction"].lower() for line in Path(path).read_text().splitlines() if line.strip()}
    rows = make_instructions(args.n, seed=args.seed, exclude=exclude)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(json.dumps({"instruction": r}) + "\n" for r in rows))
    print(f"{len(rows)} instructions -> {args.out}")
    return 0


def cmd_data_synth(args) -> int:
    from lslm_eval.trainers.synth import read_instructions, self_distilled_responses, synthesize_dataset
    from lslm_eval.tts import synthesize

    respond = transcribe = None
    if args.self_distill:
        from lslm_eval.model import LSLM, LSLMConfig

        model = LSLM.build(LSLMConfig(llm=args.llm, system_prompt=args.system_prompt, adaptor_hidden=8), dtype="float32")
        respond = lambda texts: self_distilled_responses(model, texts, max_new_tokens=args.max_response_tokens)
    if args.max_wer is not None:
        import whisper

        from lslm_eval.offline import load_whisper

        asr = load_whisper(args.asr)
        transcribe = lambda wav: whisper.transcribe(asr, wav, fp16=False, language="en")["text"]
    result = synthesize_dataset(read_instructions(args.instructions), args.out, lambda t: synthesize(t, voice=args.voice),
                                respond=respond, transcribe=transcribe, max_wer=args.max_wer)
    print(f"kept {result.kept}, dropped {result.dropped} (WER > {args.max_wer}) -> {result.manifest}")
    return 0


def load_paired_items(task, limit: int | None):
    """PairedItems from an lm-eval task whose docs carry audio with a transcript (a speech task)."""
    import itertools

    from lslm_eval.audio import load_audio
    from lslm_eval.probe.runner import PairedItem

    items = []
    for doc_id, doc in enumerate(itertools.islice(task.eval_docs, limit)):
        audios = task.doc_to_audio(doc) if task.config.doc_to_audio else None
        if not audios or not isinstance(audios[0], dict) or not audios[0].get("transcript"):
            raise SystemExit(f"task {task.config.task!r} is not a paired speech task: its docs carry no audio with a transcript")
        audio = audios[0]
        items.append(PairedItem(str(audio.get("id") or doc_id), load_audio(audio), audio["transcript"], task.doc_to_text(doc)))
    return items


def cmd_probe(args) -> int:
    from lm_eval.tasks import TaskManager
    from tqdm import tqdm

    from lslm_eval.plugins.lslm import LSLMEval
    from lslm_eval.probe.runner import Prober, paired_states

    lm = LSLMEval.create_from_arg_string(args.model_args or "")
    tasks = TaskManager(metadata=json.loads(args.metadata) if args.metadata else None).load(args.tasks.split(","))["tasks"]
    for name, task in tasks.items():
        items = load_paired_items(task, args.limit)
        info = {"model": "lslm", "checkpoint": lm.checkpoint, "encoder": lm.model.config.encoder, "llm": lm.model.config.llm,
                "tasks": [name], "limit": args.limit, "mode": "forward"}
        prober = Prober(Path(args.output_path) / name, info, cka_aligned_pairs=args.cka_aligned, debiased=args.debiased, keep_items=args.items)
        for key, hs, ht in tqdm(paired_states(lm.model, items, lm.batch_size), total=len(items), desc=f"probe {name}"):
            prober.add(hs, ht, key)
        print(f"{name}: {len(items)} items -> {prober.write()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lslm-eval", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)

    train = verbs.add_parser("train", help="train adaptor + LoRA (or full) on spoken instructions")
    train.add_argument("config", nargs="?", help="YAML of TrainConfig keys; every key can be overridden as --key value")
    train.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint in output_dir")
    train.set_defaults(func=cmd_train)

    probe = verbs.add_parser("probe", help="layer-wise speech/text similarity, APS and CKA for paired tasks (no generation)")
    probe.add_argument("--tasks", required=True, help="comma-separated speech tasks, e.g. voicebench_sdqa")
    probe.add_argument("--model_args", default="", help="as for lm_eval --model lslm")
    probe.add_argument("--metadata", default=None, help='JSON, as for lm_eval (e.g. {"voicebench_source": "sample"})')
    probe.add_argument("--limit", type=int, default=None)
    probe.add_argument("--output_path", default="outputs/probe")
    probe.add_argument("--items", action="store_true", help="also write per-item JSONL")
    probe.add_argument("--cka-aligned", default="diagonal", help="layer pairs of the aligned CKA view: diagonal | all")
    probe.add_argument("--debiased", action="store_true", help="debiased (unbiased HSIC) CKA")
    probe.set_defaults(func=cmd_probe)

    data = verbs.add_parser("data", help="build training data").add_subparsers(dest="data_verb", required=True)
    instr = data.add_parser("instructions", help="template instructions for the offline default")
    instr.add_argument("n", type=int)
    instr.add_argument("out")
    instr.add_argument("--seed", type=int, default=0)
    instr.add_argument("--exclude", nargs="*", help="JSONL files whose instructions must not appear (evaluation data)")
    instr.set_defaults(func=cmd_data_instructions)
    synth = data.add_parser("synth", help="speak instructions (espeak-ng), add responses, filter by WER, write a manifest")
    synth.add_argument("instructions", help="JSONL with 'instruction' (and optionally 'response')")
    synth.add_argument("out")
    synth.add_argument("--self-distill", action="store_true", help="responses from the backbone answering the text")
    synth.add_argument("--llm", default="offline:SmolLM2-135M-Instruct")
    synth.add_argument("--system-prompt", default=None)
    synth.add_argument("--max-response-tokens", type=int, default=48)
    synth.add_argument("--max-wer", type=float, default=None, help="drop items whose ASR word error rate is above this (paper: 0.1)")
    synth.add_argument("--asr", default="tiny.en-offline", help="Whisper model for the WER filter")
    synth.add_argument("--voice", default="en-us")
    synth.set_defaults(func=cmd_data_synth)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.verb == "train":
        args.overrides = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
