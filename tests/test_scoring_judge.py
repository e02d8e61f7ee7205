"""The LLM judge client against a real HTTP server on 127.0.0.1, and VoiceBench's score parsing."""

import pytest

from lslm_eval.scoring import judge
from lslm_eval.scoring.judge import (
    JudgeConfig,
    JudgeError,
    JudgeNotConfigured,
    judge_config,
    judge_open,
    judge_qa,
    open_judge_prompt,
    open_score,
    parse_rating,
    qa_judge_prompt,
    qa_majority,
    sdqa_official,
)

from json_server import JsonServer


def completion(*contents):
    return 200, {"id": "x", "object": "chat.completion",
                 "choices": [{"index": i, "message": {"role": "assistant", "content": c}} for i, c in enumerate(contents)]}


class FakeJudge(JsonServer):
    """A judge that answers each POST with the next canned (status, body); the last one repeats."""

    def __init__(self, replies):
        self.replies, self.requests = list(replies), []
        super().__init__(self.reply)

    def reply(self, path, headers, body):
        self.requests.append({"path": path, "auth": headers.get("Authorization"), "body": body})
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def config(self, **overrides):
        settings = {"base_url": self.base_url, "api_key": "k", "backoff_s": 0.01, "max_attempts": 3, "timeout_s": 10.0}
        return JudgeConfig(**{**settings, **overrides})


def test_open_request_and_score():
    with FakeJudge([completion("4", " 5 \n", "Rating: [[3]]")]) as fake:
        samples = judge_open("What is 2+2?", "Four.", fake.config())
    assert samples == ["4", "5", "Rating: [[3]]"]  # stripped, as the official code does
    assert open_score(samples) == pytest.approx(4.0)
    (request,) = fake.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer k"
    body = request["body"]
    assert body["model"] == "gpt-4o-mini" and body["n"] == 3
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.5, 0.95, 1024)
    assert body["messages"] == [
        {"role": "system", "content": judge.SYSTEM_PROMPT},
        {"role": "user", "content": open_judge_prompt("What is 2+2?", "Four.")},
    ]


def test_qa_vote():
    with FakeJudge([completion("Yes", "no", "YES")]) as fake:
        samples = judge_qa("Capital of France?", "Paris", "It is Paris.", fake.config())
    assert qa_majority(samples) is True
    assert "### Candidate answer\nIt is Paris.\n" in fake.requests[0]["body"]["messages"][1]["content"]


def test_retries_a_server_error_then_succeeds():
    with FakeJudge([(500, {"error": "busy"}), completion("5", "5", "5")]) as fake:
        assert judge_open("q", "r", fake.config()) == ["5", "5", "5"]
    assert len(fake.requests) == 2


def test_gives_up_with_a_clear_error():
    with FakeJudge([(503, {"error": "down"})]) as fake:
        with pytest.raises(JudgeError, match="HTTP 503") as err:
            judge_open("q", "r", fake.config())
    assert len(fake.requests) == 3  # max_attempts
    assert "gpt-4o-mini" in str(err.value) and "/v1/chat/completions" in str(err.value)


def test_client_errors_are_not_retried():
    with FakeJudge([(401, {"error": "bad key"})]) as fake:
        with pytest.raises(JudgeError, match="HTTP 401.*bad key"):
            judge_open("q", "r", fake.config())
    assert len(fake.requests) == 1


def test_asks_again_when_a_server_ignores_n():
    with FakeJudge([completion("4")]) as fake:
        assert judge_open("q", "r", fake.config()) == ["4", "4", "4"]
    assert [r["body"]["n"] for r in fake.requests] == [3, 2, 1]


def test_malformed_reply_is_an_error():
    with FakeJudge([(200, {"unexpected": True})]) as fake:
        with pytest.raises(JudgeError, match="not a chat completion"):
            judge_open("q", "r", fake.config())


def test_unconfigured_judge_raises(monkeypatch):
    monkeypatch.delenv(judge.BASE_URL_ENV, raising=False)
    with pytest.raises(JudgeNotConfigured, match=judge.BASE_URL_ENV):
        judge_open("q", "r")
    with pytest.raises(JudgeNotConfigured, match="sd-qa"):
        judge_qa("q", "ref", "r")


def test_config_from_environment(monkeypatch):
    monkeypatch.setenv(judge.BASE_URL_ENV, "http://localhost:8000/v1/")
    monkeypatch.delenv(judge.MODEL_ENV, raising=False)
    monkeypatch.setenv(judge.API_KEY_ENV, "secret")
    config = judge_config()
    assert (config.model, config.api_key, config.n) == ("gpt-4o-mini", "secret", 3)
    assert config.endpoint == "http://localhost:8000/v1/chat/completions"
    monkeypatch.setenv(judge.MODEL_ENV, "my-judge")
    assert judge_config().model == "my-judge"
    with pytest.raises(ValueError, match="http"):
        JudgeConfig(base_url="localhost:8000")


def test_prompts_are_filled_as_officially():
    open_prompt = open_judge_prompt("Tell me a joke.", "Why did the chicken...")
    assert open_prompt.startswith("\nI need your help") and open_prompt.endswith("explanations.\n")
    assert "### [Instruction]: Tell me a joke.\n### [Response]: Why did the chicken...\n" in open_prompt
    qa = qa_judge_prompt("Who wrote {reference}?", "Hamlet", "Shakespeare")
    assert qa.startswith("### Question\nWho wrote Hamlet?")  # quirk: replacements run in sequence
    assert "reference answer? \nPlease only output" in qa  # the official trailing space
    assert qa.endswith('"No". Do not output anything else.')


# (judge sample, rating) as src/evaluator/open.py reads it
RATINGS = [("4", 4.0), ("4.5", 4.5), (" 3 ", 3.0), ("Rating: [[5]]", 5.0), ("[[2]] then [[4]]", 2.0)]


@pytest.mark.parametrize("sample, rating", RATINGS)
def test_parse_rating(sample, rating):
    assert parse_rating(sample) == rating


@pytest.mark.parametrize("sample", ["five", "Score: 4", "nan", ""])
def test_unreadable_rating_is_an_error(sample):
    with pytest.raises(JudgeError):
        parse_rating(sample)


# (samples, verdict) as src/evaluator/qa.py's majority vote gives it
VOTES = [
    (["Yes", "yes", "No"], True),  # majority yes, case folded
    (["no", "No", "yes"], False),  # majority no
    (["Yes", "No", "Maybe"], False),  # three-way tie: not a yes majority (official: set order decides)
    (["Yes.", "Yes.", "yes"], False),  # "yes." is not "yes": punctuation loses the vote
    (["YES"], True),
]


@pytest.mark.parametrize("samples, verdict", VOTES)
def test_qa_majority(samples, verdict):
    assert qa_majority(samples) is verdict


def test_sdqa_official_is_the_mean():
    assert sdqa_official(47.0, 53.0) == pytest.approx(50.0)
