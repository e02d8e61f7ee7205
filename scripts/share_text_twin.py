"""Give every checkpoint of an adaptor-only run the one text-twin result it shares (docs/offline-default.md).

    python scripts/share_text_twin.py TEXT_RUN_DIR OUT_DIR CHECKPOINT...

When only the adaptor trains, a `_text` task never touches a trained weight: the LLM, the tokenizer and the prompt
are the same at every checkpoint, so its answers are the same. Scoring it once and pointing the result at each
checkpoint saves half of every per-checkpoint run. For each CHECKPOINT this writes OUT_DIR/<checkpoint name>/ with
a copy of TEXT_RUN_DIR's results_*.json whose `config.model_args` names that checkpoint (the leaderboard pairs a
speech task with the text twin of the same checkpoint) and records the run it was copied from under
`text_twin_copied_from`, plus the sample logs beside it unchanged.
Refuses a results file that holds a speech task or comes from a run that trained more than the adaptor.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from lslm_eval.report.runs import CHECKPOINT_ARGS, RESULTS_PATTERN, parse_model_args


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("text_run")
    parser.add_argument("out")
    parser.add_argument("checkpoints", nargs="+")
    args = parser.parse_args(argv)
    files = sorted(p for p in Path(args.text_run).rglob("results_*.json") if RESULTS_PATTERN.match(p.name))
    if not files:
        raise SystemExit(f"{args.text_run}: no results_*.json")
    for checkpoint in args.checkpoints:
        ck = Path(checkpoint)
        if (ck / "adapter").exists() or (ck / "llm").exists():
            raise SystemExit(f"{ck} trained more than the adaptor: its text twin must be scored, not shared")
        dest = Path(args.out) / ck.name
        dest.mkdir(parents=True, exist_ok=True)
        for path in files:
            results = json.loads(path.read_text())
            speech = [t for t in results.get("results", {}) if not t.endswith("_text")]
            if speech:
                raise SystemExit(f"{path} holds speech tasks {speech}; only text twins can be shared")
            model_args = parse_model_args(results["config"].get("model_args"))
            source = next((model_args[k] for k in CHECKPOINT_ARGS if model_args.get(k)), None)
            for key in CHECKPOINT_ARGS:
                model_args.pop(key, None)
            model_args["checkpoint"] = str(ck)
            results["config"]["model_args"] = ",".join(f"{k}={v}" for k, v in model_args.items())
            results["text_twin_copied_from"] = {"results": str(path), "checkpoint": source}
            (dest / path.name).write_text(json.dumps(results, indent=2))
            date_id = RESULTS_PATTERN.match(path.name).group("date")
            for log in path.parent.glob(f"samples_*_{date_id}.jsonl"):
                shutil.copy(log, dest / log.name)
        print(f"{dest}: text twin of {ck}")


if __name__ == "__main__":
    main()
