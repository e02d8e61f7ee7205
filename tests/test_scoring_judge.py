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
        settings = {"base_url": self.base_url, "api_key": "k", "max_attempts": 3, "timeout_s": 10.0}
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


# --- the client's reliability: redirects, deadlines, dead endpoints, bad ratings, concurrency, cache --------------------
# Against real HTTP servers on 127.0.0.1 (tests/json_server.py and raw http.server handlers below).


@pytest.mark.parametrize("status", [302, 307])
def test_the_key_is_not_sent_to_another_host_after_a_redirect(status):
    with FakeJudge([completion("4", "4", "4")]) as elsewhere:
        target = elsewhere.base_url + "/chat/completions"
        with FakeJudge([(status, {}, {"Location": target})]) as first:
            try:
                judge_open("q", "r", first.config(api_key="sk-secret"))
            except JudgeError:
                pass  # refusing the redirect is also fine; sending the key on is not
    assert first.requests[0]["auth"] == "Bearer sk-secret" and elsewhere.requests  # the redirect was followed
    assert all(r["auth"] is None or "sk-secret" not in r["auth"] for r in elsewhere.requests)


class DrippingServer:
    """Accepts a POST, promises a long body and sends one byte every 0.1 s: each read succeeds, the reply never ends."""

    def __init__(self):
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                try:
                    for _ in range(600):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_server_that_drips_bytes_is_cut_off_by_the_overall_deadline():
    drip = DrippingServer()
    try:
        with pytest.raises(JudgeError, match=r"passed its deadline of 1.5 s \(LSLM_EVAL_JUDGE_DEADLINE\)"):
            judge_open("q", "r", JudgeConfig(base_url=drip.base_url, timeout_s=1.0, deadline_s=1.5, max_attempts=1))
    finally:
        drip.close()


def test_a_dead_endpoint_fails_with_the_endpoint_named():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(JudgeError, match=rf"127.0.0.1:{port}/v1/chat/completions .* failed: .*Connection"):
        judge_open("q", "r", JudgeConfig(base_url=f"http://127.0.0.1:{port}/v1", max_attempts=2, deadline_s=30))


def test_an_out_of_range_rating_is_asked_again_then_an_error():
    with FakeJudge([completion("10", "4", "4"), completion("5")]) as fake:
        assert judge_open("q", "r", fake.config()) == ["4", "4", "5"]
    assert [r["body"]["n"] for r in fake.requests] == [3, 1]
    with FakeJudge([completion("10", "0", "9")]) as fake:
        with pytest.raises(JudgeError, match=r"unreadable sample.*'(10|0|9)' is outside the 1-5 scale"):
            judge_open("q", "r", fake.config())
    assert len(fake.requests) == 3  # max_attempts
    with pytest.raises(JudgeError, match="outside the 1-5 scale"):
        parse_rating("10")


def test_calls_run_concurrently_but_bounded():
    import threading
    import time

    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def slow(path, headers, body):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.3)
        with lock:
            state["now"] -= 1
        return completion("3", "3", "3")

    with JsonServer(slow) as server:
        prompts = [f"prompt {i}" for i in range(6)]
        out = judge.judge_many(prompts, JudgeConfig(base_url=server.base_url, concurrency=2), parse_rating)
    assert out == [["3", "3", "3"]] * 6
    assert state["peak"] == 2


def test_the_disk_cache_serves_a_rerun_with_the_same_samples(tmp_path):
    with FakeJudge([completion("4", "5", "3"), completion("1", "1", "1")]) as fake:
        config = fake.config(cache_dir=str(tmp_path))
        first = judge_open("q", "r", config)
        assert judge_open("q", "r", config) == first == ["4", "5", "3"]
        assert len(fake.requests) == 1  # the second call asked nothing
        assert judge_open("q", "r", fake.config(cache_dir=str(tmp_path), temperature=0.7)) == ["1", "1", "1"]
        assert judge_open("q", "r", fake.config(cache_dir=str(tmp_path), model="other")) == ["1", "1", "1"]
        assert len(fake.requests) == 3  # other sampling settings or model: other keys
    assert judge.cache_key("q", config) != judge.cache_key("q2", config)


def test_reliability_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(judge.BASE_URL_ENV, "http://localhost:8000/v1")
    monkeypatch.setenv(judge.TIMEOUT_ENV, "5")
    monkeypatch.setenv(judge.DEADLINE_ENV, "20")
    monkeypatch.setenv(judge.RETRIES_ENV, "2")
    monkeypatch.setenv(judge.CONCURRENCY_ENV, "3")
    monkeypatch.setenv(judge.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(judge.API_KEY_ENV, "sk-secret")
    config = judge_config()
    assert (config.timeout_s, config.deadline_s, config.max_attempts, config.concurrency, config.cache_dir) == (5, 20, 2, 3, str(tmp_path))
    assert "sk-secret" not in repr(config)
    monkeypatch.setenv(judge.CACHE_ENV, "off")
    assert judge_config().cache_dir is None
    monkeypatch.setenv(judge.RETRIES_ENV, "many")
    with pytest.raises(ValueError, match="LSLM_EVAL_JUDGE_RETRIES must be a number"):
        judge_config()
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        JudgeConfig(base_url="http://x", concurrency=0)


def test_a_judged_task_is_prefetched_concurrently_then_scored_from_the_cache(monkeypatch):
    import threading
    import time

    from lslm_eval.tasks.voicebench import utils

    lock, state = threading.Lock(), {"now": 0, "peak": 0, "calls": 0}

    def slow(path, headers, body):
        with lock:
            state["now"] += 1
            state["calls"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.2)
        with lock:
            state["now"] -= 1
        return completion("2", "3", "4")

    docs = [{"prompt": f"question {i}"} for i in range(5)]
    resps = [[f"answer {i}"] for i in range(5)]
    with JsonServer(slow) as server:
        monkeypatch.setenv(judge.BASE_URL_ENV, server.base_url)
        monkeypatch.setenv(judge.CONCURRENCY_ENV, "3")
        assert utils.prefetch_open(resps, docs) is resps  # a filter that leaves the responses as they are
        assert (state["calls"], state["peak"]) == (5, 3)
        scores = [utils.process_open(doc, r) for doc, r in zip(docs, resps)]
    assert state["calls"] == 5 and all(s["judge_score"] == 3.0 for s in scores)
