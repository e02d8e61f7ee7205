"""The CTC alignment stage (trainers/ctc.py) on tiny random parts: head, loss, batching."""

import pytest
import torch

from lslm_eval.adaptor import Adaptor
from lslm_eval.trainers.ctc import CTCConfig, CTCHead, ctc_loss
from lslm_eval.trainers.stage import length_buckets


def test_head_scores_a_frame_highest_at_the_embedding_it_sits_on():
    torch.manual_seed(0)
    embeddings = torch.randn(50, 16)
    head = CTCHead(embeddings, [3, 7, 11, 20])
    logp = head(embeddings[[7, 20, 3]].unsqueeze(0))[0]  # frames exactly on tokens 7, 20, 3
    assert logp.shape == (3, 5)
    assert logp.argmax(-1).tolist() == [2, 4, 1]  # class = 1 + position in token_ids; 0 is the blank
    assert torch.allclose(logp.exp().sum(-1), torch.ones(3))


def test_training_the_adaptor_on_the_loss_moves_frames_onto_the_transcript_tokens():
    torch.manual_seed(0)
    embeddings = torch.randn(40, 8)
    tokens = [5, 9, 13, 21]
    head = CTCHead(embeddings, tokens)
    adaptor = Adaptor(6, 8, stack=2, hidden_dim=32)
    frames = [torch.randn(12, 6), torch.randn(9, 6)]
    targets = [[5, 9, 13], [21, 5]]
    optimizer = torch.optim.Adam(list(adaptor.parameters()) + list(head.parameters()), lr=3e-2)
    first = ctc_loss(adaptor, head, frames, targets, bf16=False)
    for _ in range(120):
        loss = ctc_loss(adaptor, head, frames, targets, bf16=False)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first.item()
    with torch.no_grad():  # greedy CTC decoding of the first clip: collapse repeats, drop blanks
        best = head(adaptor(frames[0].unsqueeze(0)))[0].argmax(-1).tolist()
    collapsed = [c for i, c in enumerate(best) if c and (i == 0 or c != best[i - 1])]
    assert [tokens[c - 1] for c in collapsed] == targets[0]


def test_length_buckets_are_deterministic_disjoint_and_of_similar_length():
    lengths = [int(x) for x in torch.randint(20, 400, (1000,))]
    batches = length_buckets(lengths, 16, seed=3, epoch=1)
    assert batches == length_buckets(lengths, 16, seed=3, epoch=1) and batches != length_buckets(lengths, 16, 3, 2)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat)) and all(len(b) == 16 for b in batches)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 0.1 * (max(lengths) - min(lengths))


def test_config_rejects_unknown_options_and_bad_voices():
    import pytest

    with pytest.raises(ValueError, match="unknown CTC options"):
        CTCConfig.from_dict({"texts": 10, "lrr": 1})
    with pytest.raises(ValueError, match="voices"):
        CTCConfig(voices=[["en-us"]])


def test_sampled_negatives_keep_the_batch_tokens_and_match_the_full_softmax_when_all_are_drawn():
    torch.manual_seed(0)
    embeddings = torch.randn(30, 8)
    head = CTCHead(embeddings, list(range(2, 30)))
    adaptor = Adaptor(6, 8, stack=2, hidden_dim=16)
    frames, targets = [torch.randn(10, 6)], [[4, 7, 4]]
    full = ctc_loss(adaptor, head, frames, targets, bf16=False)
    every = ctc_loss(adaptor, head, frames, targets, bf16=False, negatives=100, generator=torch.Generator().manual_seed(1))
    few = ctc_loss(adaptor, head, frames, targets, bf16=False, negatives=3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(full, every, atol=1e-5) and few < full  # fewer competitors, a smaller loss


def test_the_cache_speaks_each_clip_once_and_more_voices_encode_only_the_new_clips(tiny_lslm, tmp_path, monkeypatch):
    import numpy as np

    from lslm_eval.trainers.clips import build_cache
    from lslm_eval.trainers.ctc import CTCConfig

    spoken = []

    def fake_synthesize(text, voice, rate):
        spoken.append((text, voice, rate))
        return np.random.default_rng(len(spoken)).standard_normal(8000).astype(np.float32) * 0.1

    monkeypatch.setattr("lslm_eval.tts.synthesize", fake_synthesize)
    voices = [["a", 100], ["b", 120], ["c", 140]]
    one = CTCConfig(cache_dir=str(tmp_path), texts=6, voices=voices)
    texts, frames = build_cache(one, tiny_lslm)
    assert len(texts) == len(spoken) == 6 and [v for _, v, _ in spoken] == ["a", "b", "c"] * 2
    two = CTCConfig(cache_dir=str(tmp_path), texts=6, voices=voices, voices_per_text=2)
    texts2, frames2 = build_cache(two, tiny_lslm)
    assert len(spoken) == 12 and texts2 == texts + texts  # only the six new clips were spoken
    assert [v for _, v, _ in spoken[6:]] == ["b", "c", "a"] * 2  # text i's second voice is voice i + 1
    assert all(torch.equal(a, b) for a, b in zip(frames2[:6], frames))
    again = build_cache(two, tiny_lslm)[1]
    assert len(spoken) == 12 and all(torch.equal(a, b) for a, b in zip(again, frames2))
    with pytest.raises(ValueError, match="voices_per_text"):
        CTCConfig(voices=voices, voices_per_text=4)


def test_a_resumed_ctc_run_repeats_the_uninterrupted_one_head_included(tmp_path, save_tiny_parts, ctc_clip_cache):
    import json
    import shutil

    from safetensors.torch import load_file

    from lslm_eval.trainers.ctc import STATE_FILE, train

    whisper_file, llm_dir = save_tiny_parts(tmp_path)
    cache, _ = ctc_clip_cache
    options = {"encoder": str(whisper_file), "llm": str(llm_dir), "cache_dir": str(cache), "texts": 12, "stack": 2,
               "adaptor_hidden": 24, "batch_size": 4, "max_steps": 4, "save_every": 2, "log_every": 1,
               "warmup_steps": 1, "negatives": 8, "dropout": 0.2}
    whole = train(CTCConfig.from_dict({**options, "output_dir": str(tmp_path / "whole")}))
    split = {**options, "output_dir": str(tmp_path / "split")}
    train(CTCConfig.from_dict(split))
    shutil.rmtree(tmp_path / "split" / "checkpoint-4")
    with pytest.raises(ValueError, match="--resume"):
        train(CTCConfig.from_dict(split))
    resumed = train(CTCConfig.from_dict(split), resume=True)
    a, b = load_file(str(whole / "adaptor.safetensors")), load_file(str(resumed / "adaptor.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    heads = [torch.load(d / STATE_FILE, weights_only=True)["head"] for d in (whole, resumed)]
    assert all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])
    log = [json.loads(line) for line in (tmp_path / "split" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["tau"] > 0 for r in log)
