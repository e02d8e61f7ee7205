"""`lslm-eval data synth`: instructions JSONL -> spoken instructions + responses + manifest.

Input lines: {"instruction": str, "response"?: str}. Output directory:
    audio/<index>.flac        16 kHz mono speech of the instruction (pluggable TTS, espeak-ng by default)
    manifest.jsonl            {"audio", "instruction", "response", "wer"?} per kept item
Responses come from the input file or, with `self_distill`, from the backbone answering the
transcript in text mode. With `max_wer`, items whose Whisper transcript has a word error rate
above it are dropped (paper 1 §3.2: 0.1); the `lslm-eval data synth` verb normalizes both texts
with Whisper's English normalizer first, so "five" and "5" count as the same word.
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


def basic_normalize(text: str) -> str:
    """Lowercase; punctuation other than apostrophes becomes space."""
    return re.sub(r"[^\w\s']", " ", text.lower())


def english_normalizer() -> Callable[[str], str]:
    """openai-whisper's EnglishTextNormalizer: also maps spelled numbers to digits ("five" -> "5") and
    British to American spelling, so the ASR's writing conventions cost no errors."""
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def word_error_rate(reference: str, hypothesis: str, normalize: Callable[[str], str] = basic_normalize) -> float:
    """(substitutions + deletions + insertions) / reference words, after `normalize`; an empty
    reference gives 0 for an empty hypothesis and 1 otherwise."""
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    if not ref:
        return float(bool(hyp))
    row = list(range(len(hyp) + 1))  # edit distances of the reference prefix so far to each hypothesis prefix
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / len(ref)


@dataclass
class SynthResult:
    kept: int
    dropped: int  # word error rate above max_wer
    manifest: Path
    no_response: int = 0  # dropped because the response was empty


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
                       transcribe: Callable[[np.ndarray], str] | None = None, max_wer: float | None = None,
                       normalize: Callable[[str], str] = basic_normalize) -> SynthResult:
    """Speak every instruction, attach responses, optionally filter by WER; write the manifest.

    tts: text -> (n,) float32 16 kHz; respond: instructions -> responses, for rows without one;
    transcribe: (n,) float32 16 kHz -> text, needed with max_wer. Rows whose response is empty are
    dropped. The manifest is written under a temporary name and renamed when complete."""
    import soundfile

    if max_wer is not None and transcribe is None:
        raise ValueError("max_wer needs a transcriber (an ASR model) to measure the word error rate")
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
    kept = dropped = no_response = 0
    partial = out_dir / f".{MANIFEST}.partial"
    with open(partial, "w") as manifest:
        for i, (text, response) in enumerate(tqdm(list(zip(texts, responses)), desc="speaking instructions")):
            if not response or not response.strip():
                no_response += 1
                continue
            wav = tts(text)
            record = {"audio": f"audio/{i:06d}.flac", "instruction": text, "response": response}
            if max_wer is not None:
                record["wer"] = round(word_error_rate(text, transcribe(wav), normalize), 4)
                if record["wer"] > max_wer:
                    dropped += 1
                    continue
            soundfile.write(out_dir / record["audio"], wav, SAMPLE_RATE, format="FLAC")
            manifest.write(json.dumps(record) + "\n")
            kept += 1
    partial.replace(out_dir / MANIFEST)
    return SynthResult(kept, dropped, out_dir / MANIFEST, no_response)
