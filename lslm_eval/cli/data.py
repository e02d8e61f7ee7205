"""`lslm-eval data instructions | synth`: spoken training data for the offline default."""

from __future__ import annotations

import json
from pathlib import Path


def run_instructions(args) -> int:
    from lslm_eval.data.voicebench import evaluation_prompts
    from lslm_eval.trainers.instructions import make_instructions

    exclude = set() if args.keep_eval_sample else set(evaluation_prompts())
    for path in args.exclude or []:
        exclude |= {json.loads(line)["instruction"].lower() for line in Path(path).read_text().splitlines() if line.strip()}
    rows = make_instructions(args.n, seed=args.seed, exclude=exclude)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(json.dumps({"instruction": r}) + "\n" for r in rows))
    print(f"{len(rows)} instructions -> {args.out}")
    return 0


def run_synth(args) -> int:
    from lslm_eval.trainers.synth import basic_normalize, english_normalizer, read_instructions, self_distilled_responses, synthesize_dataset
    from lslm_eval.tts import synthesize

    respond = transcribe = None
    normalize = basic_normalize
    if args.self_distill:
        from lslm_eval.model import LSLM, LSLMConfig

        model = LSLM.build(LSLMConfig(llm=args.llm, system_prompt=args.system_prompt, adaptor_hidden=8), dtype="float32")
        respond = lambda texts: self_distilled_responses(model, texts, max_new_tokens=args.max_response_tokens)
    if args.max_wer is not None:
        import whisper

        from lslm_eval.whisper_loader import load_whisper

        asr = load_whisper(args.asr)
        transcribe = lambda wav: whisper.transcribe(asr, wav, fp16=False, language="en")["text"]
        normalize = english_normalizer()
    result = synthesize_dataset(read_instructions(args.instructions), args.out, lambda t: synthesize(t, voice=args.voice),
                                respond=respond, transcribe=transcribe, max_wer=args.max_wer, normalize=normalize)
    print(f"kept {result.kept}, dropped {result.dropped} (WER > {args.max_wer}) and {result.no_response} "
          f"(empty response) -> {result.manifest}")
    return 0


def add_to(verbs) -> None:
    data = verbs.add_parser("data", help="build training data").add_subparsers(dest="data_verb", required=True)
    instr = data.add_parser("instructions", help="template instructions for the offline default")
    instr.add_argument("n", type=int, help="how many instructions")
    instr.add_argument("out", help="JSONL file to write, one {\"instruction\": ...} a line")
    instr.add_argument("--seed", type=int, default=0, help="template and slot draws")
    instr.add_argument("--exclude", nargs="*", help="JSONL files whose instructions must not appear (evaluation data)")
    instr.add_argument("--keep_eval_sample", action="store_true",
                       help="allow the shipped VoiceBench sample's and held-out set's questions (excluded by default)")
    instr.set_defaults(func=run_instructions)
    synth = data.add_parser("synth", help="speak instructions (espeak-ng), add responses, filter by WER, write a manifest")
    synth.add_argument("instructions", help="JSONL with 'instruction' (and optionally 'response')")
    synth.add_argument("out", help="folder for the audio files and manifest.jsonl")
    synth.add_argument("--self_distill", action="store_true", help="responses from the backbone answering the text")
    synth.add_argument("--llm", default="offline:SmolLM2-135M-Instruct", help="the backbone that writes self-distilled responses")
    synth.add_argument("--system_prompt", default=None, help="system turn for the self-distilled responses")
    synth.add_argument("--max_response_tokens", type=int, default=48, help="longest self-distilled response")
    synth.add_argument("--max_wer", type=float, default=None, help="drop items whose ASR word error rate is above this (paper: 0.1)")
    synth.add_argument("--asr", default="tiny.en-offline", help="Whisper model for the WER filter")
    synth.add_argument("--voice", default="en-us", help="espeak-ng voice")
    synth.set_defaults(func=run_synth)
