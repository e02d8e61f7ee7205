"""The LLM judge of VoiceBench's open-ended subsets and of sd-qa's GPT half.

Rule of VoiceBench's `api_judge.py`, `src/evaluator/open.py` and `src/evaluator/qa.py`
(MatthewCYM/VoiceBench, HEAD 5338154): one chat completion per item (a fixed system message and
the filled-in prompt) with n=3 samples, temperature 0.5, top_p 0.95, max_tokens 1024, no penalties,
from `gpt-4o-mini`; each sample is stripped.

- Open-ended (alpacaeval_full, commoneval, wildvoice): each sample is a 1-5 score, read as a number,
  else from `[[n]]`; an unreadable sample is an error. The subset score is the mean over all
  samples of all items (= the mean of the per-item means, as every item has 3 samples).
- sd-qa GPT: each sample is "Yes"/"No"; the item is correct when "yes" (lowercased) is the most
  frequent answer. The official sd-qa number is the mean of the PEDANT and GPT percentages.

The client speaks the OpenAI chat-completions protocol over `urllib` to any compatible server. It
is configured by environment variables (or a `JudgeConfig`):

    LSLM_EVAL_JUDGE_BASE_URL  e.g. https://api.openai.com/v1 (required; "/chat/completions" is appended)
    LSLM_EVAL_JUDGE_MODEL     default gpt-4o-mini, the official judge
    LSLM_EVAL_JUDGE_API_KEY   sent as a Bearer token when set

Without a base URL, `judge_config()` raises `JudgeNotConfigured`: judged subsets never score 0.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

BASE_URL_ENV = "LSLM_EVAL_JUDGE_BASE_URL"
MODEL_ENV = "LSLM_EVAL_JUDGE_MODEL"
API_KEY_ENV = "LSLM_EVAL_JUDGE_API_KEY"
OFFICIAL_JUDGE_MODEL = "gpt-4o-mini"
RETRYABLE_HTTP_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})

# Verbatim from VoiceBench's api_judge.py: the system message, `meta_prompt_open` (it starts and
# ends with a newline) and `meta_prompt_qa` (stripped; note the space after "answer?").
SYSTEM_PROMPT = "You are a helpful assistant who tries to help answer the user's question."
OPEN_PROMPT = """
I need your help to evaluate the performance of several models in the speech interaction scenario. The models will receive a speech input from the user, which they need to understand and respond to with a speech output.
Your task is to rate the model’s responses based on the provided user input transcription [Instruction] and the model’s output transcription [Response].

Please evaluate the response on a scale of 1 to 5:
1 point: The response is largely irrelevant, incorrect, or fails to address the user’s query. It may be off-topic or provide incorrect information.
2 points: The response is somewhat relevant but lacks accuracy or completeness. It may only partially answer the user’s question or include extraneous information.
3 points: The response is relevant and mostly accurate, but it may lack conciseness or include unnecessary details that don’t contribute to the main point.
4 points: The response is relevant, accurate, and concise, providing a clear answer to the user’s question without unnecessary elaboration.
5 points: The response is exceptionally relevant, accurate, and to the point. It directly addresses the user’s query in a highly effective and efficient manner, providing exactly the information needed.

Below are the transcription of user’s instruction and models’ response:
### [Instruction]: {prompt}
### [Response]: {response}

After evaluating, please output the score only without anything else.
You don’t need to provide any explanations.
"""
QA_PROMPT = """### Question
{prompt}

### Reference answer
{reference}

### Candidate answer
{response}

Is the candidate answer correct based on the question and reference answer? 
Please only output a single "Yes" or "No". Do not output anything else."""
RATING_PATTERN = re.compile(r"\[\[(\d+)\]\]")


class JudgeNotConfigured(RuntimeError):
    """A judged subset was scored without a judge endpoint."""


class JudgeError(RuntimeError):
    """The judge endpoint failed, or answered something that cannot be scored."""


@dataclass(frozen=True)
class JudgeConfig:
    """Where and how to ask the judge; the sampling defaults are VoiceBench's."""

    base_url: str
    model: str = OFFICIAL_JUDGE_MODEL
    api_key: str | None = None
    n: int = 3
    temperature: float = 0.5
    top_p: float = 0.95
    max_tokens: int = 1024
    timeout_s: float = 120.0
    max_attempts: int = 6
    backoff_s: float = 2.0  # wait before retry k (1-based): backoff_s * 2**(k-1), at most max_backoff_s
    max_backoff_s: float = 60.0

    def __post_init__(self):
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"judge base_url must be an http(s) URL such as https://api.openai.com/v1, got {self.base_url!r}"
            )
        if self.n < 1 or self.max_attempts < 1:
            raise ValueError(
                f"judge n and max_attempts must be at least 1, got n={self.n}, max_attempts={self.max_attempts}"
            )

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


def judge_config(subset: str = "this subset") -> JudgeConfig:
    """The judge configured by the environment, or `JudgeNotConfigured` saying how to configure one."""
    base_url = os.environ.get(BASE_URL_ENV, "").strip()
    if not base_url:
        raise JudgeNotConfigured(
            f"{subset} is scored by an LLM judge, and none is configured. Set {BASE_URL_ENV} to an "
            f"OpenAI-compatible endpoint (e.g. https://api.openai.com/v1), {MODEL_ENV} to the judge model "
            f"(default {OFFICIAL_JUDGE_MODEL}, VoiceBench's) and {API_KEY_ENV} to its API key, or pass a JudgeConfig."
        )
    return JudgeConfig(
        base_url=base_url,
        model=os.environ.get(MODEL_ENV, "").strip() or OFFICIAL_JUDGE_MODEL,
        api_key=os.environ.get(API_KEY_ENV) or None,
    )


def open_judge_prompt(prompt: str, response: str) -> str:
    """The open-ended rating prompt, filled in as the official code does (prompt first, then response)."""
    return OPEN_PROMPT.replace("{prompt}", prompt).replace("{response}", response)


def qa_judge_prompt(prompt: str, reference: str, response: str) -> str:
    """The sd-qa correctness prompt, filled in as the official code does (prompt, reference, response)."""
    return QA_PROMPT.replace("{prompt}", prompt).replace("{reference}", reference).replace("{response}", response)


def _post_json(config: JudgeConfig, body: dict) -> dict:
    """One POST of `body` to the endpoint, with retries and exponential backoff on transient failures."""
    headers = {"Content-Type": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    data = json.dumps(body).encode("utf-8")
    last_error = "no attempt made"
    for attempt in range(1, config.max_attempts + 1):
        request = urllib.request.Request(config.endpoint, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=config.timeout_s) as reply:
                return json.loads(reply.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:500]
            last_error = f"HTTP {err.code}: {detail}"
            if err.code not in RETRYABLE_HTTP_STATUS:
                break
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError, ValueError) as err:
            last_error = f"{type(err).__name__}: {err}"
        if attempt < config.max_attempts:
            time.sleep(min(config.backoff_s * 2 ** (attempt - 1), config.max_backoff_s))
    raise JudgeError(f"judge request to {config.endpoint} (model {config.model}) failed: {last_error}")


def complete(user_prompt: str, config: JudgeConfig) -> list[str]:
    """`config.n` stripped samples of the judge's reply to `user_prompt` (asking again if a server returns fewer)."""
    samples: list[str] = []
    while len(samples) < config.n:
        body = {
            "model": config.model,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_prompt}],
            "max_tokens": config.max_tokens,
            "frequency_penalty": 0,
            "presence_penalty": 0,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "n": config.n - len(samples),
        }
        reply = _post_json(config, body)
        try:
            contents = [choice["message"]["content"] for choice in reply["choices"]]
        except (KeyError, TypeError) as err:
            raise JudgeError(
                f"judge reply from {config.endpoint} is not a chat completion: {str(reply)[:500]}"
            ) from err
        if not contents or not all(isinstance(c, str) for c in contents):
            raise JudgeError(f"judge reply from {config.endpoint} has no text choices: {str(reply)[:500]}")
        samples.extend(c.strip() for c in contents)
    return samples[: config.n]


def judge_open(prompt: str, response: str, config: JudgeConfig | None = None) -> list[str]:
    """The judge's raw 1-5 samples for an open-ended item (`prompt` is the transcript)."""
    config = config or judge_config("an open-ended VoiceBench subset")
    return complete(open_judge_prompt(prompt, response), config)


def judge_qa(prompt: str, reference: str, response: str, config: JudgeConfig | None = None) -> list[str]:
    """The judge's raw Yes/No samples for an sd-qa item."""
    config = config or judge_config("sd-qa (its GPT half)")
    return complete(qa_judge_prompt(prompt, reference, response), config)


def parse_rating(sample: str) -> float:
    """A judge sample as a score: the whole text as a number, else the first `[[n]]` in it."""
    try:
        score = float(sample)
    except ValueError:
        match = RATING_PATTERN.search(sample)
        if match is None:
            raise JudgeError(f"judge sample {sample[:200]!r} is neither a number nor contains [[n]]") from None
        score = float(match.group(1))
    if not math.isfinite(score):
        raise JudgeError(f"judge sample {sample[:200]!r} is not a finite score")
    return score


def open_score(samples: Sequence[str]) -> float:
    """An item's open-ended score: the mean of its samples' ratings (1-5 scale)."""
    if not samples:
        raise JudgeError("an open-ended item has no judge samples")
    return sum(parse_rating(s) for s in samples) / len(samples)


def qa_majority(samples: Sequence[str]) -> bool:
    """Whether "yes" wins the vote of the lowercased samples.

    Official: `max(set(votes), key=votes.count) == "yes"`, where a tie between different answers
    (possible only when the judge strays from Yes/No) goes to whichever the set yields first. Here
    "yes" must have strictly more votes than every other answer, so the verdict does not depend on
    set order.
    """
    if not samples:
        raise JudgeError("an sd-qa item has no judge samples")
    counts = Counter(s.lower() for s in samples)
    yes = counts.pop("yes", 0)
    return yes > max(counts.values(), default=0)


def sdqa_official(pedant_percent: float, gpt_percent: float) -> float:
    """The official sd-qa number: the mean of the PEDANT and GPT accuracies (percent)."""
    return (pedant_percent + gpt_percent) / 2.0
