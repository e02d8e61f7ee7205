"""`lslm-eval probe` (layer-wise speech/text statistics by forward passes) and `lslm-eval figures`."""

from __future__ import annotations

from pathlib import Path


def run_probe(args) -> int:
    from tqdm import tqdm

    from lslm_eval.cli.flags import build_lm, seed_everything
    from lslm_eval.paired import TaskDataError, load_paired_items, load_tasks
    from lslm_eval.probe.cases import query_tokens, save_case
    from lslm_eval.probe.runner import Prober, paired_states

    seed_everything(args)
    lm = build_lm(args)
    tasks = load_tasks(",".join(args.tasks), args.metadata)
    for name, task in tasks.items():
        try:
            items = load_paired_items(task, args.limit)
        except TaskDataError as err:
            raise SystemExit(str(err)) from None
        info = {"model": "lslm", "checkpoint": lm.checkpoint, **lm.model_parts(),
                "tasks": [name], "limit": args.limit, "mode": "forward"}
        prober = Prober(Path(args.output_path) / name, info, cka_aligned_pairs=args.cka_aligned, debiased=args.debiased, keep_items=args.log_samples)
        transcripts = {item.key: item.transcript for item in items}
        for key, hs, ht in tqdm(paired_states(lm.model, items, lm.batch_size), total=len(items), desc=f"probe {name}"):
            prober.add(hs, ht, key)
            if key in (args.case or []):
                tokens = query_tokens(lm.model.tokenizer, transcripts[key])
                for layer in args.case_layer or [None]:
                    saved = save_case(prober.out_dir, hs, ht, key, layer, tokens=tokens, checkpoint=lm.checkpoint)
                    print(f"{name}: alignment case -> {saved}")
        missing = sorted(set(args.case or []) - {item.key for item in items})
        if missing:
            print(f"{name}: no item has key {missing}; keys look like {items[0].key!r}" if items else f"{name}: no items")
        print(f"{name}: {len(items)} items -> {prober.write()}")
    return 0


def run_figures(args) -> int:
    import re

    from lslm_eval.probe import figures
    from lslm_eval.probe.cases import find_cases

    labels = args.labels or [Path(p).parent.name or Path(p).stem for p in args.probe_json]
    if len(labels) != len(args.probe_json):
        raise SystemExit(f"--labels names {len(labels)} checkpoints for {len(args.probe_json)} probe files")
    try:
        results = {label: figures.load_json_file(path, figures.PROBE_FIELDS, "a probe file (lslm-eval probe / probe=DIR)")
                   for label, path in zip(labels, args.probe_json)}
    except ValueError as err:
        raise SystemExit(f"lslm-eval figures: {err}") from None
    slug = lambda text: re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    out = Path(args.output_path)
    written = [figures.plot_sequence_curves(results, out / "sequence_curves.png"),
               figures.plot_path_statistics(results, out / "path_statistics.png")]
    for label, result in results.items():
        for view, cka in (result.get("cka") or {}).items():
            written.append(figures.plot_cka(cka, out / f"cka_{view}_{slug(label)}.png", label=label))
    cases = [Path(c) for c in args.case or []]
    for key in args.item or []:
        found = [path for probe in args.probe_json for path in find_cases(Path(probe).parent, key)]
        if not found:
            raise SystemExit(f"no alignment case of item {key!r} next to the probe files; write one with "
                             f"`lslm-eval probe ... --case {key}`")
        cases += found
    for path in cases:
        try:
            case = figures.load_json_file(path, figures.CASE_FIELDS, "an alignment case file (lslm-eval probe --case)")
        except ValueError as err:
            raise SystemExit(f"lslm-eval figures: {err}") from None
        written.append(figures.plot_alignment_case(case, out / f"alignment_{slug(str(case.get('key')))}_L{case['layer']}.png"))
    print("\n".join(str(path) for path in written))
    return 0


def add_to(verbs) -> None:
    from lslm_eval.cli import flags

    probe = verbs.add_parser("probe", help="layer-wise speech/text similarity, APS and CKA for paired tasks (no generation)")
    flags.add_tasks(probe)
    flags.add_model(probe)
    flags.add_data(probe)
    flags.add_output_path(probe, "outputs/probe", "folder: OUTPUT_PATH/<task>/probe.json (and items.jsonl, cases)")
    flags.add_log_samples(probe, "also write per-item statistics (OUTPUT_PATH/<task>/items.jsonl); probe generates nothing")
    flags.add_seed(probe)
    probe.add_argument("--cka_aligned", default="diagonal", help="layer pairs of the aligned CKA view: diagonal | all")
    probe.add_argument("--debiased", action="store_true", help="debiased (unbiased HSIC) CKA")
    probe.add_argument("--case", action="append", metavar="KEY", help="also save this item's alignment case (A^cos, A^d, paths) for `figures --item`")
    probe.add_argument("--case_layer", type=int, action="append", help="layer of the saved cases (repeatable; default: the last layer)")
    probe.set_defaults(func=run_probe)

    figs = verbs.add_parser("figures", help="PNG figures from probe JSON files (curves, CKA, monotonicity, alignment cases)")
    figs.add_argument("probe_json", nargs="+", help="probe.json files, one per checkpoint, in training order")
    figs.add_argument("--labels", nargs="+", default=None, help="one label per probe file (default: its folder name)")
    figs.add_argument("--item", action="append", metavar="KEY", help="draw this item's alignment case (saved by `probe --case KEY`)")
    figs.add_argument("--case", action="append", metavar="CASE_JSON", help="draw this alignment case file")
    flags.add_output_path(figs, "outputs/figures", "folder for the PNG files")
    figs.set_defaults(func=run_figures)
