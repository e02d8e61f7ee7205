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

The client is the official `openai` package (AsyncOpenAI) against any OpenAI-compatible server. It is
configured by environment variables (or a `JudgeConfig`):

    LSLM_EVAL_JUDGE_BASE_URL     e.g. https://api.openai.com/v1 (required)
    LSLM_EVAL_JUDGE_MODEL        default gpt-4o-mini, the official judge
    LSLM_EVAL_JUDGE_API_KEY      the API key (sent as a Bearer token; never logged, never sent after a
                                 redirect to another host: httpx drops it)
    LSLM_EVAL_JUDGE_TIMEOUT      seconds per HTTP read/write (default 60; connecting: at most 10)
    LSLM_EVAL_JUDGE_DEADLINE     seconds one call may take in all, retries included (default 300)
    LSLM_EVAL_JUDGE_RETRIES      attempts per call (default 4): the client's own retries with exponential
                                 backoff on connection errors, 408/409/429/5xx; an unreadable sample
                                 (e.g. a rating outside 1-5) is asked again as often, then an error
    LSLM_EVAL_JUDGE_CONCURRENCY  calls in flight at once (default 8)
    LSLM_EVAL_JUDGE_CACHE        directory of the on-disk cache (default $LSLM_EVAL_CACHE/judge), or "off"

The cache holds the accepted samples of each call, keyed by (model, messages, sampling settings), so a
re-run asks nothing and reproduces the same scores. `judge_many` runs calls concurrently; the tasks'
filter `prefetch_*` uses it to judge a whole task at once before `process_results` reads the cache.
Without a base URL, `judge_config()` raises `JudgeNotConfigured`: judged subsets never score 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

BASE_URL_ENV = "LSLM_EVAL_JUDGE_BASE_URL"
MODEL_ENV = "LSLM_EVAL_JUDGE_MODEL"
API_KEY_ENV = "LSLM_EVAL_JUDGE_API_KEY"
TIMEOUT_ENV = "LSLM_EVAL_JUDGE_TIMEOUT"
DEADLINE_ENV = "LSLM_EVAL_JUDGE_DEADLINE"
RETRIES_ENV = "LSLM_EVAL_JUDGE_RETRIES"
CONCURRENCY_ENV = "LSLM_EVAL_JUDGE_CONCURRENCY"
CACHE_ENV = "LSLM_EVAL_JUDGE_CACHE"
CACHE_OFF = {"", "off", "none", "0", "false", "no"}
OFFICIAL_JUDGE_MODEL = "gpt-4o-mini"
CONNECT_TIMEOUT_S = 10.0
NO_KEY = "no-key"  # what the client sends when no key is set (local servers ignore it)
RATING_RANGE = (1.0, 5.0)  # VoiceBench's open-ended scale

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
    """Where and how to ask the judge; the sampling defaults are VoiceBench's. `cache_dir` None: no disk cache."""

    base_url: str
    model: str = OFFICIAL_JUDGE_MODEL
    api_key: str | None = None
    n: int = 3
    temperature: float = 0.5
    top_p: float = 0.95
    max_tokens: int = 1024
    timeout_s: float = 60.0  # per HTTP read / write
    deadline_s: float = 300.0  # per call, retries included
    max_attempts: int = 4
    concurrency: int = 8
    cache_dir: str | None = None

    def __post_init__(self):
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"judge base_url must be an http(s) URL such as https://api.openai.com/v1, got {self.base_url!r}"
            )
        for name in ("n", "max_attempts", "concurrency"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"judge {name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("timeout_s", "deadline_s"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"judge {name} must be positive, got {getattr(self, name)!r}")

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def __repr__(self) -> str:  # never print the key
        shown = {**asdict(self), "api_key": "***" if self.api_key else None}
        return f"JudgeConfig({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def _env_number(name: str, default: float, kind=float):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def judge_config(subset: str = "this subset") -> JudgeConfig:
    """The judge configured by the environment, or `JudgeNotConfigured` saying how to configure one."""
    base_url = os.environ.get(BASE_URL_ENV, "").strip()
    if not base_url:
        raise JudgeNotConfigured(
            f"{subset} is scored by an LLM judge, and none is configured. Set {BASE_URL_ENV} to an "
            f"OpenAI-compatible endpoint (e.g. https://api.openai.com/v1), {MODEL_ENV} to the judge model "
            f"(default {OFFICIAL_JUDGE_MODEL}, VoiceBench's) and {API_KEY_ENV} to its API key, or pass a JudgeConfig."
        )
    cache = os.environ.get(CACHE_ENV)
    if cache is None:
        from lslm_eval.offline import cache_root

        cache = str(cache_root() / "judge")
    defaults = JudgeConfig(base_url=base_url)
    return JudgeConfig(
        base_url=base_url,
        model=os.environ.get(MODEL_ENV, "").strip() or OFFICIAL_JUDGE_MODEL,
        api_key=os.environ.get(API_KEY_ENV) or None,
        timeout_s=_env_number(TIMEOUT_ENV, defaults.timeout_s),
        deadline_s=_env_number(DEADLINE_ENV, defaults.deadline_s),
        max_attempts=_env_number(RETRIES_ENV, defaults.max_attempts, int),
        concurrency=_env_number(CONCURRENCY_ENV, defaults.concurrency, int),
        cache_dir=None if cache.strip().lower() in CACHE_OFF else cache,
    )


def open_judge_prompt(prompt: str, response: str) -> str:
    """The open-ended rating prompt, filled in as the official code does (prompt first, then response)."""
    return OPEN_PROMPT.replace("{prompt}", prompt).replace("{response}", response)


def qa_judge_prompt(prompt: str, reference: str, response: str) -> str:
    """The sd-qa correctness prompt, filled in as the official code does (prompt, reference, response)."""
    return QA_PROMPT.replace("{prompt}", prompt).replace("{reference}", reference).replace("{response}", response)


Validator = Callable[[str], object]  # raises JudgeError on a sample that cannot be scored


def _messages(user_prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_prompt}]


def cache_key(user_prompt: str, config: JudgeConfig) -> str:
    """sha256 of (model, messages, sampling settings): what decides the judge's reply."""
    settings = {"model": config.model, "messages": _messages(user_prompt), "n": config.n, "temperature": config.temperature,
                "top_p": config.top_p, "max_tokens": config.max_tokens, "frequency_penalty": 0, "presence_penalty": 0}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _cache_file(user_prompt: str, config: JudgeConfig) -> Path | None:
    if not config.cache_dir:
        return None
    key = cache_key(user_prompt, config)
    return Path(config.cache_dir).expanduser() / key[:2] / f"{key}.json"


_memory: dict[tuple[str, str], list[str]] = {}  # this process's accepted samples by (base_url, cache_key), disk cache or not


def _read_cache(file: Path | None) -> list[str] | None:
    if file is None or not file.is_file():
        return None
    try:
        samples = json.loads(file.read_text(encoding="utf-8"))["samples"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged entry is asked again and rewritten
    return samples if isinstance(samples, list) and all(isinstance(x, str) for x in samples) else None


def _write_cache(file: Path | None, samples: list[str], config: JudgeConfig) -> None:
    if file is None:
        return
    file.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".judge-", dir=file.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump({"model": config.model, "samples": samples}, out, ensure_ascii=False)
    os.replace(tmp, file)


def _describe(err: BaseException) -> str:
    import openai

    if isinstance(err, openai.APIStatusError):
        body = err.response.text[:500] if err.response is not None else ""
        return f"HTTP {err.status_code}: {body}"
    if isinstance(err, (asyncio.TimeoutError, openai.APITimeoutError)):
        return f"timed out ({type(err).__name__})"
    return f"{type(err).__name__}: {err}"


async def _ask(client, user_prompt: str, config: JudgeConfig, n: int) -> list[str]:
    """One chat completion asking for `n` samples (the client retries transient failures itself)."""
    reply = await client.chat.completions.create(
        model=config.model, messages=_messages(user_prompt), max_tokens=config.max_tokens, frequency_penalty=0,
        presence_penalty=0, temperature=config.temperature, top_p=config.top_p, n=n,
    )
    choices = getattr(reply, "choices", None)
    if not isinstance(choices, list):
        raise JudgeError(f"judge reply from {config.endpoint} is not a chat completion: {str(reply)[:500]}")
    contents = [getattr(getattr(choice, "message", None), "content", None) for choice in choices]
    if not contents or not all(isinstance(c, str) for c in contents):
        raise JudgeError(f"judge reply from {config.endpoint} has no text choices: {str(reply)[:500]}")
    return [c.strip() for c in contents]


async def _complete(client, user_prompt: str, config: JudgeConfig, validate: Validator | None) -> list[str]:
    """`config.n` accepted samples: asks again for missing ones (a server ignoring n) and for unreadable ones,
    at most `max_attempts` times in all, within `deadline_s` for the whole call."""
    import openai

    key, file = (config.base_url, cache_key(user_prompt, config)), _cache_file(user_prompt, config)
    cached = _memory.get(key) or _read_cache(file)
    if cached is not None and len(cached) == config.n:
        _memory[key] = cached
        return cached
    samples: list[str] = []
    rejected: list[str] = []

    async def collect() -> None:
        for _ in range(config.max_attempts):
            for sample in await _ask(client, user_prompt, config, config.n - len(samples)):
                try:
                    if validate is not None:
                        validate(sample)
                    samples.append(sample)
                except JudgeError as err:
                    rejected.append(str(err))
            if len(samples) >= config.n:
                return

    try:
        await asyncio.wait_for(collect(), timeout=config.deadline_s)
    except asyncio.TimeoutError as err:
        raise JudgeError(f"judge request to {config.endpoint} (model {config.model}) passed its deadline of "
                         f"{config.deadline_s:g} s ({DEADLINE_ENV})") from err
    except openai.OpenAIError as err:
        raise JudgeError(f"judge request to {config.endpoint} (model {config.model}) failed: {_describe(err)}") from err
    if len(samples) < config.n:
        last = rejected[-1] if rejected else "too few samples"
        raise JudgeError(f"judge {config.model} at {config.endpoint} gave {len(rejected)} unreadable sample(s) "
                         f"in {config.max_attempts} attempt(s) ({RETRIES_ENV}): {last}")
    samples = samples[: config.n]
    _write_cache(file, samples, config)
    _memory[key] = samples
    return samples


def _client(config: JudgeConfig):
    import openai

    timeout = openai.Timeout(config.timeout_s, connect=min(CONNECT_TIMEOUT_S, config.timeout_s))
    return openai.AsyncOpenAI(base_url=config.base_url, api_key=config.api_key or NO_KEY, timeout=timeout,
                              max_retries=config.max_attempts - 1)


def judge_many(user_prompts: Sequence[str], config: JudgeConfig, validate: Validator | None = None) -> list[list[str]]:
    """`complete` for many prompts, at most `config.concurrency` calls in flight; results in input order."""

    async def run() -> list[list[str]]:
        limit = asyncio.Semaphore(config.concurrency)
        async with _client(config) as client:

            async def one(prompt: str) -> list[str]:
                async with limit:
                    return await _complete(client, prompt, config, validate)

            return list(await asyncio.gather(*(one(p) for p in user_prompts)))

    return asyncio.run(run())


def complete(user_prompt: str, config: JudgeConfig, validate: Validator | None = None) -> list[str]:
    """`config.n` stripped samples of the judge's reply to `user_prompt`, each accepted by `validate`."""
    return judge_many([user_prompt], config, validate)[0]


def judge_open(prompt: str, response: str, config: JudgeConfig | None = None) -> list[str]:
    """The judge's raw 1-5 samples for an open-ended item (`prompt` is the transcript)."""
    config = config or judge_config("an open-ended VoiceBench subset")
    return complete(open_judge_prompt(prompt, response), config, parse_rating)


def judge_qa(prompt: str, reference: str, response: str, config: JudgeConfig | None = None) -> list[str]:
    """The judge's raw Yes/No samples for an sd-qa item."""
    config = config or judge_config("sd-qa (its GPT half)")
    return complete(qa_judge_prompt(prompt, reference, response), config)


def parse_rating(sample: str) -> float:
    """A judge sample as a score: the whole text as a number, else the first `[[n]]` in it; within RATING_RANGE."""
    try:
        score = float(sample)
    except ValueError:
        match = RATING_PATTERN.search(sample)
        if match is None:
            raise JudgeError(f"judge sample {sample[:200]!r} is neither a number nor contains [[n]]") from None
        score = float(match.group(1))
    if not math.isfinite(score):
        raise JudgeError(f"judge sample {sample[:200]!r} is not a finite score")
    low, high = RATING_RANGE
    if not low <= score <= high:
        raise JudgeError(f"judge sample {sample[:200]!r} is outside the {low:g}-{high:g} scale")
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
