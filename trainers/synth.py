"""`lslm-eval data synth`: instructions JSONL -> spoken instructions + responses + manifest.

Input lines: {"instruction": str, "response"?: str}. Output directory:
    audio/<index>.flac        16 kHz mono speech of the instruction (pluggable TTS, espeak-ng by default)
    manifest.jsonl            {"audio", "instruction", "response", "wer"?} per kept item
Responses come from the input file or, with `self_distill`, from the backbone answering the
transcript in text mode. With `max_wer`, items whose Whisper transcript has a word error rate
above it are dropped (paper 1 §3.2: 0.1).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from lslm_eval.audio import SAMPLE_RATE

MANIFEST = "manifest.jsonl"


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over lowercased words without punctuation / number of reference words."""
    words = lambda s: re.sub(r"[^\w\s']", " ", s.lower()).split()
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return float(bool(hyp))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / len(ref)


@dataclass
class SynthResult:
    kept: int
    dropped: int
    manifest: Path


def read_instructions(path: str | Path) -> list[dict]:
    rows = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                row = json.loads(line)
                if not isinstance(row.get("instruction"), str) or not row["instruction"].strip():
                    raise ValueError(f"{path}:{line_no}: every line needs a non-empty 'instruction'")
                rows.append(row)
    return rows


def self_distilled_responses(model, instructions: Sequence[str], max_new_tokens: int = 48, batch_size: int = 16) -> list[str]:
    """The backbone's own greedy answers to the written instructions (text mode)."""
    out: list[str] = []
    for start in tqdm(range(0, len(instructions), batch_size), desc="self-distilled responses"):
        chunk = instructions[start : start + batch_size]
        out += [r.strip() for r in model.generate(model.collate(model.build_items(chunk)), max_new_tokens=max_new_tokens)]
    return out


def synthesize_dataset(instructions: list[dict], out_dir: str | Path, tts: Callable[[str], np.ndarray],
                       respond: Callable[[list[str]], list[str]] | None = None,
                       transcribe: Callable[[np.ndarray], str] | None = None, max_wer: float | None = None) -> SynthResult:
    """Speak every instruction, attach responses, optionally filter by WER; write the manifest."""
    import soundfile

    out_dir = Path(out_dir)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    texts = [row["instruction"] for row in instructions]
    responses = [row.get("response") for row in instructions]
    missing = [i for i, r in enumerate(responses) if not r]
    if missing:
        if respond is None:
            raise ValueError(f"{len(missing)} instructions have no 'response'; give responses or use self-distillation")
        for i, r in zip(missing, respond([texts[i] for i in missing])):
            responses[i] = r
    kept = dropped = 0
    with open(out_dir / MANIFEST, "w") as manifest:
        for i, (text, response) in enumerate(tqdm(list(zip(texts, responses)), desc="speaking instructions")):
            wav = tts(text)
            record = {"audio": f"audio/{i:06d}.flac", "instruction": text, "response": response}
            if max_wer is not None:
                record["wer"] = round(word_error_rate(text, transcribe(wav)), 4)
                if record["wer"] > max_wer:
                    dropped += 1
                    continue
            soundfile.write(out_dir / record["audio"], wav, SAMPLE_RATE, format="FLAC")
            manifest.write(json.dumps(record) + "\n")
            kept += 1
    return SynthResult(kept, dropped, out_dir / MANIFEST)
