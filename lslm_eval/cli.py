"""`lslm-eval`: every verb that is not an lm-eval run. Thin: parse arguments, call the library."""

from __future__ import annotations

import argparse
import functools
import json
import sys
import typing
from dataclasses import dataclass, fields
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
    """YAML file (optional) then `--key value` (or `--key=value`) overrides -> TrainConfig."""
    import yaml

    from lslm_eval.trainers.train import TrainConfig

    config_file, values = args.config, {}
    extra = list(args.overrides)
    while extra:
        key = extra.pop(0)
        if not key.startswith("--"):
            raise SystemExit(f"overrides come as --key value pairs; got {key!r}")
        if "=" in key:
            key, value = key.split("=", 1)
        elif extra and not extra[0].startswith("--"):
            value = extra.pop(0)
        elif config_file is not None:  # without a config file argparse took this option's value for one
            value, config_file = config_file, None
        else:
            raise SystemExit(f"{key} needs a value")
        values[key[2:].replace("-", "_")] = value
    data = yaml.safe_load(Path(config_file).read_text()) if config_file else {}
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    for name, value in values.items():
        if name not in kinds:
            raise SystemExit(f"unknown training option {name!r}; known: {sorted(kinds)}")
        data[name] = _coerce(kinds[name], value)
    return TrainConfig.from_dict(data)


def cmd_train(args) -> int:
    from lslm_eval.trainers.train import Trainer, TrainConfigError, TrainingDataError

    try:
        trainer = Trainer(train_config_from(args), resume=args.resume)
    except (TrainConfigError, TrainingDataError) as err:
        raise SystemExit(f"lslm-eval train: {err}") from None
    last = trainer.run()
    if last is not None:
        print(f"last checkpoint: {last}")
    return 0


def cmd_data_instructions(args) -> int:
    from lslm_eval.trainers.instructions import make_instructions

    from lslm_eval.data.voicebench import sample_prompts

    exclude = set() if args.keep_eval_sample else set(sample_prompts())
    for path in args.exclude or []:
        exclude |= {json.loads(line)["instruction"].lower() for line in Path(path).read_text().splitlines() if line.strip()}
    rows = make_instructions(args.n, seed=args.seed, exclude=exclude)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(json.dumps({"instruction": r}) + "\n" for r in rows))
    print(f"{len(rows)} instructions -> {args.out}")
    return 0


def cmd_data_synth(args) -> int:
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
    from lslm_eval.probe.cases import save_case
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
            if key in (args.case or []):
                for layer in args.case_layer or [None]:
                    print(f"{name}: alignment case -> {save_case(prober.out_dir, hs, ht, key, layer)}")
        missing = sorted(set(args.case or []) - {item.key for item in items})
        if missing:
            print(f"{name}: no item has key {missing}; keys look like {items[0].key!r}" if items else f"{name}: no items")
        print(f"{name}: {len(items)} items -> {prober.write()}")
    return 0


def load_tasks(names: str, metadata: str | None, split: str | None = None) -> dict:
    """lm-eval tasks by comma-separated name; `split` makes each read that split of its data instead."""
    from dataclasses import fields as config_fields

    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks import TaskManager

    tasks = TaskManager(metadata=json.loads(metadata) if metadata else None).load(names.split(","))["tasks"]
    if split is None:
        return tasks
    moved = {}
    for name, task in tasks.items():
        config = {f.name: getattr(task.config, f.name) for f in config_fields(task.config)}
        kwargs = dict(config.get("dataset_kwargs") or {})
        if "split" in kwargs:  # a custom dataset that loads one split (VoiceBench)
            kwargs["split"] = split
        moved[name] = ConfigurableTask(config={**config, "test_split": split, "dataset_kwargs": kwargs})
        if not moved[name].has_test_docs() or split not in moved[name].dataset:
            raise SystemExit(f"task {name} has no split {split!r}")
    return moved


def cmd_calibrate(args) -> int:
    from lslm_eval.intervene.calibration import estimate_calibration
    from lslm_eval.intervene.edits import CalibrationStats
    from lslm_eval.plugins.lslm import LSLMEval

    lm = LSLMEval.create_from_arg_string(args.model_args or "")
    if lm.intervention is not None:
        raise SystemExit("calibrate measures the unedited model: drop intervene= from --model_args")
    stats = CalibrationStats(args.layer)
    tasks = load_tasks(args.tasks, args.metadata, args.split)
    for name, task in tasks.items():
        items = load_paired_items(task, args.limit)
        stats.merge(estimate_calibration(lm.model, items, args.layer, lm.batch_size))
        print(f"{name} ({task.config.test_split}): {len(items)} items")
    stats.info = {"tasks": sorted(tasks), "splits": {n: t.config.test_split for n, t in tasks.items()}, "limit": args.limit,
                  "checkpoint": lm.checkpoint, "encoder": lm.model.config.encoder, "llm": lm.model.config.llm,
                  "n_items": len(stats.keys)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(f"layer {args.layer}: {len(stats.keys)} items, {stats.speech.count} speech frames, {stats.text.count} text tokens "
          f"-> {stats.save(args.out)}")
    return 0


def cmd_interventions(args) -> int:
    from lm_eval.tasks import TaskManager

    from lslm_eval.intervene.grid import run_grid, write_grid
    from lslm_eval.intervene.settings import paper_grid
    from lslm_eval.plugins.lslm import LSLMEval

    if "intervene=" in (args.model_args or ""):
        raise SystemExit("the grid sets the intervention itself: drop intervene= (and targets, layer, stats) from --model_args")
    settings = paper_grid(args.layer, args.stats)  # reads --stats before the model loads
    lm = LSLMEval.create_from_arg_string(args.model_args or "")
    tasks = args.tasks.split(",")
    task_manager = TaskManager(metadata=json.loads(args.metadata) if args.metadata else None)
    runs = run_grid(lm, settings, tasks, args.output_path, args.limit, task_manager, model_args=args.model_args or "",
                    gen_kwargs=args.gen_kwargs)
    info = {"model_args": args.model_args, "limit": args.limit, "layer": args.layer, "stats": args.stats,
            "checkpoint": lm.checkpoint}
    markdown_path, json_path, markdown = write_grid(runs, tasks, args.output_path, info, args.threshold)
    print(markdown)
    print(f"-> {markdown_path}, {json_path}; sample logs under {args.output_path}/<setting>/")
    return 0


def cmd_flips(args) -> int:
    from lslm_eval.report.flips import compare_runs, load_run, render_markdown, write_flip_report

    labels = args.labels or [None, None]
    try:
        a = load_run(args.run_a, args.task, args.metric, args.filter, labels[0])
        b = load_run(args.run_b, args.task_b or args.task, args.metric or a.metric, args.filter, labels[1])
        report = compare_runs(a, b, args.threshold)
    except (OSError, ValueError) as err:
        raise SystemExit(f"lslm-eval flips: {err}") from None
    jsonl, markdown = write_flip_report(report, args.out, args.examples)
    print(render_markdown(report, args.examples))
    print(f"-> {jsonl}, {markdown}")
    return 0


def cmd_figures(args) -> int:
    import re

    from lslm_eval.probe import figures
    from lslm_eval.probe.cases import find_cases

    labels = args.labels or [Path(p).parent.name or Path(p).stem for p in args.probe_json]
    if len(labels) != len(args.probe_json):
        raise SystemExit(f"--labels names {len(labels)} checkpoints for {len(args.probe_json)} probe files")
    results = {label: json.loads(Path(path).read_text()) for label, path in zip(labels, args.probe_json)}
    slug = lambda text: re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    out = Path(args.out)
    written = [figures.plot_sequence_curves(results, out / "sequence_curves.png"),
               figures.plot_path_statistics(results, out / "path_statistics.png")]
    for label, result in results.items():
        for view, cka in (result.get("cka") or {}).items():
            written.append(figures.plot_cka(cka, out / f"cka_{view}_{slug(label)}.png"))
    cases = [Path(c) for c in args.case or []]
    for key in args.item or []:
        found = [path for probe in args.probe_json for path in find_cases(Path(probe).parent, key)]
        if not found:
            raise SystemExit(f"no alignment case of item {key!r} next to the probe files; write one with "
                             f"`lslm-eval probe ... --case {key}`")
        cases += found
    for path in cases:
        case = json.loads(path.read_text())
        written.append(figures.plot_alignment_case(case, out / f"alignment_{slug(str(case.get('key')))}_L{case['layer']}.png"))
    print("\n".join(str(path) for path in written))
    return 0


INPUT_ERROR = 2  # exit status of a report verb given unusable input (a failed regression gate exits with 1)
GATE_FAILED = 1
REPORT_FORMATS = ("md", "csv", "json", "html")
PROBE_FILE = "probe.json"  # lslm_eval.probe.runner.AGGREGATES_FILE (not imported: that pulls in torch)
CORRELATION_FIGURES = {  # file -> scalars on its panels: paper 1, fig. 5 (sequence level) and fig. 7 (APS)
    "gap_vs_sequence_similarity.png": ("f_bar_cos", "f_bar_d"),
    "gap_vs_aps.png": ("aps_cos", "aps_d"),
}
TEST_DECIMALS = 4


def report_verb(command):
    """Run a report verb; unusable input (the library says what is missing) -> stderr, status 2."""

    @functools.wraps(command)
    def run(args) -> int:
        try:
            return command(args)
        except (ValueError, OSError) as err:
            print(f"lslm-eval {args.verb}: error: {err}", file=sys.stderr)
            return INPUT_ERROR

    return run


def subsets_arg(text: str):
    """--subsets: "paper", "official" or comma-separated subset names."""
    from lslm_eval.report.runs import MAIN_METRIC
    from lslm_eval.report.scores import SUBSET_SETS

    if text in SUBSET_SETS:
        return text
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MAIN_METRIC]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown subsets {unknown or [text]}: give {' or '.join(SUBSET_SETS)} "
                                         f"or names from {sorted(MAIN_METRIC)}")
    return names


def formats_arg(text: str) -> list[str]:
    """--format: comma-separated, from REPORT_FORMATS."""
    chosen = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in REPORT_FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown formats {unknown or [text]}: choose from {','.join(REPORT_FORMATS)}")
    return chosen


def probe_files(entries) -> list[Path]:
    """--probe arguments: probe JSON files, or folders searched for the Prober's probe.json."""
    files: list[Path] = []
    for entry in entries or []:
        path = Path(entry)
        if path.is_dir():
            found = sorted(path.rglob(PROBE_FILE))
            if not found:
                raise FileNotFoundError(f"--probe {path}: no {PROBE_FILE} inside (written by probe=DIR or lslm-eval probe)")
            files += found
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def leaderboard_from(args, run_dirs, probes=()):
    from lslm_eval.report.leaderboard import build_leaderboard

    return build_leaderboard(run_dirs, probes, args.subsets, n_resamples=args.resamples, confidence=args.confidence,
                             seed=args.seed, probe_task=getattr(args, "probe_task", None))


def print_notes(label: str, notes) -> None:
    for note in notes:
        print(f"{label}: {note}", file=sys.stderr)


@report_verb
def cmd_leaderboard(args) -> int:
    if args.format and not args.out:
        raise ValueError("--format chooses the files written into --out DIR: give --out")
    board = leaderboard_from(args, args.runs, probe_files(args.probe))
    print(board.to_markdown(), end="")
    if args.out:
        render = {"md": board.to_markdown, "csv": board.to_csv, "json": board.to_json, "html": board.to_html}
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name in args.format or REPORT_FORMATS:
            path = out / f"leaderboard.{name}"
            path.write_text(render[name](), encoding="utf-8")
            print(f"wrote {path}", file=sys.stderr)
    return 0


@dataclass(frozen=True)
class GateSide:
    """One side of `compare`: metrics named by run, the same without the run prefix when the side
    holds one checkpoint (else None), and the leaderboard when built from run folders."""

    by_run: dict
    single: dict | None
    board: typing.Any = None


def gate_side(args, source: str) -> GateSide:
    """A run folder (or results_*.json), a leaderboard JSON, or a flat metric JSON -> its metrics."""
    from lslm_eval.report.gate import load_metric_table
    from lslm_eval.report.runs import RESULTS_PATTERN, RunKey

    path = Path(source)
    if path.is_dir() or RESULTS_PATTERN.match(path.name):
        board = leaderboard_from(args, [path])
        print_notes(source, board.notes)
        return GateSide(board.metric_table(), board.metric_table(by_run=False) if len(board.rows) == 1 else None, board)
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("rows"), list) and "metrics" in data:  # a leaderboard's JSON
        metrics = load_metric_table(data["metrics"])
        if len(data["rows"]) != 1:
            return GateSide(metrics, None)
        prefix = f"{RunKey(data['rows'][0]['model'], data['rows'][0]['checkpoint'])}/"
        return GateSide(metrics, {name.removeprefix(prefix): metric for name, metric in metrics.items()})
    metrics = load_metric_table(data)
    return GateSide(metrics, metrics)


def gap_test_table(args, baseline: GateSide, candidate: GateSide) -> str:
    """Paired bootstrap of GAP_candidate - GAP_baseline over the items both were scored on."""
    from lslm_eval.report.bootstrap import compare_gaps
    from lslm_eval.report.render import markdown_table

    rows = []
    for side, flag in ((baseline, "--baseline"), (candidate, "--candidate")):
        if side.board is None or len(side.board.rows) != 1:
            raise ValueError(f"--gap-test needs {flag} to be the lm-eval output of one checkpoint (with sample logs)")
        if not side.board.rows[0].paired:
            raise ValueError(f"--gap-test: {side.board.rows[0].name} has no per-item scores; run lm_eval with --log_samples")
        rows.append(side.board.rows[0])
    result = compare_gaps(rows[1].paired, rows[0].paired, n_resamples=args.resamples, confidence=args.confidence,
                          seed=args.seed)
    level = f"{round(result.confidence * 100)}%"
    columns = ["baseline", "candidate", "GAP baseline", "GAP candidate", "difference", f"{level} low", f"{level} high",
               "SE", "p-value", "items"]
    table = [[rows[0].name, rows[1].name, rows[0].gap, rows[1].gap, result.difference, result.low, result.high,
              result.se, result.p_value, sum(result.n_items.values())]]
    unshared = sum(result.n_unshared.values())
    note = f"\n{unshared} items scored for only one checkpoint are left out of the difference.\n" if unshared else ""
    return ("\n**Paired GAP test: candidate - baseline** (stratified paired bootstrap; p from a sign-flip test)\n\n"
            + markdown_table(columns, table, decimals=TEST_DECIMALS) + note)


@report_verb
def cmd_compare(args) -> int:
    from lslm_eval.report.gate import compare

    baseline, candidate = gate_side(args, args.baseline), gate_side(args, args.candidate)
    single = baseline.single is not None and candidate.single is not None  # one checkpoint each: match by metric
    result = compare(baseline.single if single else baseline.by_run, candidate.single if single else candidate.by_run,
                     args.tolerance, args.tolerance_se, args.metrics)
    print(result.to_markdown(), end="")
    if args.gap_test:
        print(gap_test_table(args, baseline, candidate), end="")
    return 0 if result.passed else GATE_FAILED


def training_run(checkpoint: str) -> str:
    """The training run a checkpoint belongs to: its parent folder (runs/qwen-lora/checkpoint-2000 -> runs/qwen-lora)."""
    return str(Path(checkpoint).parent) if checkpoint else "-"


@report_verb
def cmd_correlate(args) -> int:
    from lslm_eval.report.figures import plot_correlation, plot_training
    from lslm_eval.report.regression import correlate

    board = leaderboard_from(args, args.runs, probe_files(args.probe))
    print_notes("leaderboard", board.notes)
    points = [{**point, "run": training_run(point["checkpoint"])} for point in board.points()]
    result = correlate(points, args.scalars, args.group_by)
    print(result.to_markdown(), end="")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "correlation.csv").write_text(result.to_csv(), encoding="utf-8")
    written = [out / "correlation.csv"]
    for name, panels in CORRELATION_FIGURES.items():
        chosen = [scalar for scalar in panels if scalar in args.scalars]
        if chosen:
            written.append(plot_correlation(points, out / name, chosen, args.group_by))
    undated = [row.name for row in board.rows if row.step is None]
    if undated:
        print(f"no training-step figure: {undated} carry no step (name checkpoints checkpoint-<step>)", file=sys.stderr)
    else:
        aps = [scalar for scalar in args.scalars if scalar.startswith("aps")]
        written.append(plot_training(points, out / "training.png", aps, line_by="run"))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def add_board_options(parser: argparse.ArgumentParser) -> None:
    """Options of every verb that builds a leaderboard from lm-eval output folders."""
    parser.add_argument("--subsets", type=subsets_arg, default=None,
                        help="the Overall and GAP: paper (5 subsets), official (9), or a,b,c (default: every subset found)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples of the GAP interval")
    parser.add_argument("--confidence", type=float, default=0.95, help="level of the GAP interval")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def add_probe_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--probe", nargs="+", action="extend", default=[], required=required, metavar="FILE_OR_DIR",
                        help="probe.json files, or folders holding them (probe=DIR, lslm-eval probe --output_path)")
    parser.add_argument("--probe-task", default=None, help="use only probe files of this task (when several per checkpoint)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lslm-eval", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)

    train = verbs.add_parser("train", help="train adaptor + LoRA (or full) on spoken instructions",
                             description="lslm-eval train [CONFIG.yaml] [--resume] [--KEY VALUE ...]: every TrainConfig key "
                                         "(lslm_eval.trainers.train) can be set as --key value. Several processes: "
                                         "accelerate launch --multi_gpu --num_processes N -m lslm_eval.cli train CONFIG.yaml")
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
    probe.add_argument("--case", action="append", metavar="KEY", help="also save this item's alignment case (A^cos, A^d, paths) for `figures --item`")
    probe.add_argument("--case-layer", type=int, action="append", help="layer of the saved cases (repeatable; default: the last layer)")
    probe.set_defaults(func=cmd_probe)

    calib = verbs.add_parser("calibrate", help="speech and text per-dimension statistics at one layer, for intervene=calibrate")
    calib.add_argument("--tasks", required=True, help="comma-separated paired speech tasks (estimation data)")
    calib.add_argument("--model_args", default="", help="as for lm_eval --model lslm")
    calib.add_argument("--metadata", default=None, help="JSON, as for lm_eval")
    calib.add_argument("--split", default=None, help="read this split instead of the task's test split (keep it apart from the evaluated one)")
    calib.add_argument("--limit", type=int, default=None)
    calib.add_argument("--layer", type=int, default=0, help="0 = input embeddings (adaptor output), l = decoder layer l")
    calib.add_argument("--out", required=True, help="statistics file (.safetensors or .json)")
    calib.set_defaults(func=cmd_calibrate)

    grid = verbs.add_parser("interventions", help="paper 1 table 1: Original, Angle/Length x Bottom3/All (+ calibration) in one run")
    grid.add_argument("--tasks", required=True, help="comma-separated speech tasks, e.g. voicebench_sdqa")
    grid.add_argument("--model_args", default="", help="as for lm_eval --model lslm, without intervene")
    grid.add_argument("--metadata", default=None, help="JSON, as for lm_eval")
    grid.add_argument("--limit", type=int, default=None)
    grid.add_argument("--layer", type=int, default=0, help="layer the token edits apply at")
    grid.add_argument("--stats", default=None, help="calibration statistics (lslm-eval calibrate): adds Calibrate and Calibrate (mean)")
    grid.add_argument("--gen_kwargs", default=None, help="as for lm_eval")
    grid.add_argument("--threshold", type=float, default=0.0, help="an item is right when its score is above this (flip counts)")
    grid.add_argument("--output_path", default="outputs/interventions")
    grid.set_defaults(func=cmd_interventions)

    flips = verbs.add_parser("flips", help="per-item fixed / broken between two runs (lm-eval sample logs or grid folders)")
    flips.add_argument("run_a", help="samples_<task>_<date>.jsonl, or a folder holding one (the reference run)")
    flips.add_argument("run_b", help="the same for the compared run")
    flips.add_argument("--task", default=None, help="task to read when a folder holds several")
    flips.add_argument("--task-b", default=None, help="task of run B when it differs (e.g. voicebench_sdqa_text against voicebench_sdqa)")
    flips.add_argument("--metric", default=None, help="per-item score (default: the task's main metric)")
    flips.add_argument("--filter", default="none", help="lm-eval filter whose samples to read")
    flips.add_argument("--threshold", type=float, default=0.0, help="an item is right when its score is above this")
    flips.add_argument("--labels", nargs=2, default=None, metavar=("A", "B"))
    flips.add_argument("--examples", type=int, default=3, help="examples of each kind in the Markdown")
    flips.add_argument("--out", default="outputs/flips")
    flips.set_defaults(func=cmd_flips)

    figs = verbs.add_parser("figures", help="PNG figures from probe JSON files (curves, CKA, monotonicity, alignment cases)")
    figs.add_argument("probe_json", nargs="+", help="probe.json files, one per checkpoint, in training order")
    figs.add_argument("--labels", nargs="+", default=None, help="one label per probe file (default: its folder name)")
    figs.add_argument("--item", action="append", metavar="KEY", help="draw this item's alignment case (saved by `probe --case KEY`)")
    figs.add_argument("--case", action="append", metavar="CASE_JSON", help="draw this alignment case file")
    figs.add_argument("--out", default="outputs/figures")
    figs.set_defaults(func=cmd_figures)

    data = verbs.add_parser("data", help="build training data").add_subparsers(dest="data_verb", required=True)
    instr = data.add_parser("instructions", help="template instructions for the offline default")
    instr.add_argument("n", type=int)
    instr.add_argument("out")
    instr.add_argument("--seed", type=int, default=0)
    instr.add_argument("--exclude", nargs="*", help="JSONL files whose instructions must not appear (evaluation data)")
    instr.add_argument("--keep-eval-sample", action="store_true",
                       help="allow the shipped VoiceBench sample's questions (excluded by default)")
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

    board = verbs.add_parser("leaderboard", help="speech/text scores, Overall, GAP with interval and similarity per checkpoint")
    board.add_argument("runs", nargs="+", metavar="RUN_DIR", help="lm_eval --output_path folders (or results_*.json)")
    add_probe_options(board, required=False)
    add_board_options(board)
    board.add_argument("--out", default=None, metavar="DIR", help="also write leaderboard.{md,csv,json,html} here")
    board.add_argument("--format", type=formats_arg, default=None, help=f"files to write (default {','.join(REPORT_FORMATS)})")
    board.set_defaults(func=cmd_leaderboard)

    gate = verbs.add_parser("compare", help="regression gate: exit 1 when a tracked metric worsens beyond the tolerance")
    gate.add_argument("--baseline", required=True, help="a run folder, a leaderboard JSON or a metric JSON")
    gate.add_argument("--candidate", required=True, help="a run folder, a leaderboard JSON or a metric JSON")
    gate.add_argument("--tolerance", type=float, default=1.0, help="allowed worsening in points")
    gate.add_argument("--tolerance-se", type=float, default=None, metavar="K",
                      help="allow K standard errors of the difference instead, where both sides have one")
    gate.add_argument("--metrics", nargs="+", default=None, metavar="PATTERN",
                      help="metrics to track (fnmatch patterns, e.g. gap 'speech/*'); default every baseline metric")
    gate.add_argument("--gap-test", action="store_true", help="also a paired bootstrap test of the two GAPs (run folders)")
    add_board_options(gate)
    gate.set_defaults(func=cmd_compare)

    fit = verbs.add_parser("correlate", help="OLS of GAP on each similarity scalar across checkpoints, with figures")
    fit.add_argument("runs", nargs="+", metavar="RUN_DIR", help="lm_eval --output_path folders (or results_*.json)")
    add_probe_options(fit, required=True)
    add_board_options(fit)
    fit.add_argument("--scalars", nargs="+", default=["f_bar_cos", "f_bar_d", "aps_cos", "aps_d"],
                     choices=["f_bar_cos", "f_bar_d", "aps_cos", "aps_d"], help="similarity scalars to fit GAP on")
    fit.add_argument("--group-by", choices=["model", "run"], default=None,
                     help="one fit per model type or per training run (a checkpoint's parent folder)")
    fit.add_argument("--out", default="outputs/correlate", metavar="DIR", help="correlation.csv and PNG figures")
    fit.set_defaults(func=cmd_correlate)
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
