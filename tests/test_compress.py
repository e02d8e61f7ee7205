"""CTC compression (lslm_eval.compress): one speech row per token said, kept with the adaptor in checkpoints."""

import json

import pytest
import torch
from safetensors.torch import load_file

from lslm_eval.compress import CTCCompressor, greedy_runs
from lslm_eval.trainers.ctc import CTCHead


def test_greedy_runs_drop_blanks_and_split_where_the_class_changes():
    assert greedy_runs([0, 3, 3, 0, 3, 5, 5, 5, 0]) == [(3, 1, 3), (3, 4, 5), (5, 5, 8)]
    assert greedy_runs([0, 0]) == [] and greedy_runs([]) == [] and greedy_runs([2]) == [(2, 0, 1)]


def compressor_on(embeddings, token_ids):
    return CTCCompressor(embeddings.shape[1], len(token_ids)).init_from(embeddings, token_ids)


def test_each_run_becomes_the_mean_of_its_frames_and_only_kept_frames_get_a_gradient():
    torch.manual_seed(0)
    embeddings = 4 * torch.randn(30, 8)
    compressor = compressor_on(embeddings, [4, 9, 17])
    blank = compressor.blank.detach()
    near = lambda v: v + 0.01 * torch.randn(8)  # noqa: E731
    frames = torch.stack([near(blank), near(embeddings[9]), near(embeddings[9]), near(blank), near(embeddings[17]),
                          near(embeddings[4]), near(embeddings[4]), near(embeddings[4])]).requires_grad_(True)
    assert compressor.classes(frames, embeddings) == [0, 2, 2, 0, 3, 1, 1, 1]
    out = compressor(frames, embeddings)
    assert out.shape == (3, 8)
    assert torch.allclose(out[0], frames[1:3].mean(0)) and torch.allclose(out[2], frames[5:].mean(0))
    out.sum().backward()
    kept = frames.grad.abs().sum(-1) > 0
    assert kept.tolist() == [False, True, True, False, True, True, True, True]


def test_posterior_rows_are_expected_token_embeddings_sharp_where_the_head_is_sure():
    torch.manual_seed(0)
    embeddings = 4 * torch.randn(30, 8)
    compressor = CTCCompressor(8, 3, rows="posterior").init_from(embeddings, [4, 9, 17])
    blank = compressor.blank.detach()
    near = lambda v: v + 0.01 * torch.randn(8)  # noqa: E731
    frames = torch.stack([near(blank), near(embeddings[9]), near(embeddings[9]), near(blank), near(embeddings[17])])
    frames.requires_grad_(True)
    assert compressor.classes(frames, embeddings) == [0, 2, 2, 0, 3]
    out = compressor(frames, embeddings)
    assert out.shape == (2, 8)
    # a frame on a token's embedding expects that embedding (the blank's share left out), not the frame itself
    torch.testing.assert_close(out[0], embeddings[9], atol=1e-3, rtol=0)
    assert not torch.allclose(out[0], frames[1:3].mean(0), atol=1e-3)
    out.sum().backward()  # the gradient reaches the kept frames through the posterior
    assert (frames.grad.abs().sum(-1) > 0).tolist() == [False, True, True, False, True]
    # a frame between two tokens expects a mixture of both: a point on their segment, near neither
    with torch.no_grad():
        compressor.blank.fill_(1e3)
    a, b = embeddings[4], embeddings[17]
    (mix,) = compressor((0.55 * a + 0.45 * b).unsqueeze(0), embeddings)
    weight = ((mix - b) @ (a - b) / (a - b).pow(2).sum()).item()
    assert 0.05 < weight < 0.95
    torch.testing.assert_close(mix, b + weight * (a - b), atol=1e-2, rtol=0)
    with pytest.raises(ValueError, match="ctc_rows"):
        CTCCompressor(8, 3, rows="tokens")


def test_a_clip_that_is_all_blank_keeps_one_row_the_mean_of_its_frames():
    embeddings = 4 * torch.randn(30, 8)
    compressor = compressor_on(embeddings, [1, 2])
    frames = compressor.blank.detach().repeat(5, 1) + 0.01 * torch.randn(5, 8)
    out = compressor(frames, embeddings)
    assert out.shape == (1, 8) and torch.allclose(out[0], frames.mean(0))


def test_the_class_table_is_gathered_once_and_rebuilt_when_the_blank_or_the_embeddings_change():
    torch.manual_seed(1)
    embeddings = 4 * torch.randn(30, 8)
    compressor = compressor_on(embeddings, [4, 9, 17])
    frames = embeddings[[9, 9, 4]] + 0.01 * torch.randn(3, 8)
    gathered = []
    original = compressor.table
    compressor.table = lambda vocab: gathered.append(1) or original(vocab)
    for _ in range(3):
        assert compressor.classes(frames, embeddings) == [2, 2, 1]
    assert len(gathered) == 1
    with torch.no_grad():
        compressor.blank.copy_(embeddings[9])  # the blank now sits on token 9: its frames turn blank
    assert compressor.classes(frames, embeddings) == [0, 0, 1] and len(gathered) == 2
    with torch.no_grad():
        embeddings[4] += 100  # token 4 moves away: a stale table would still find it
    assert compressor.classes(frames, embeddings)[2] != 1 and len(gathered) == 3


def test_the_ctc_head_is_a_compressor_its_state_loads_into_one():
    embeddings = torch.randn(40, 16)
    head = CTCHead(embeddings, [3, 8, 30])
    compressor = CTCCompressor(16, 3)
    compressor.load_state_dict(head.state_dict())
    h = torch.randn(7, 16)
    assert torch.allclose(head(h.unsqueeze(0))[0], compressor.log_probs(h, embeddings[[3, 8, 30]]))
    assert compressor.classes(h, embeddings) == head(h.unsqueeze(0))[0].argmax(-1).tolist()


def test_a_compressing_checkpoint_saves_and_reloads_its_compressor(tmp_path, save_tiny_parts, noise_wavs):
    from lslm_eval.model import LSLM, LSLMConfig

    whisper_file, llm_dir = save_tiny_parts(tmp_path)
    plain = LSLM.build(LSLMConfig(encoder=str(whisper_file), llm=str(llm_dir), stack=2, adaptor_hidden=24), dtype="float32")
    config = LSLMConfig(encoder=str(whisper_file), llm=str(llm_dir), stack=2, adaptor_hidden=24, ctc_tokens=5)
    model = LSLM.build(config, dtype="float32")
    model.adaptor.load_state_dict(plain.adaptor.state_dict(), strict=False)
    table = model.llm.get_input_embeddings().weight
    # a blank far from every frame, so every frame is some token's: the runs are the frames' nearest-token runs
    model.adaptor.compressor.init_from(table, [1, 2, 3, 4, 5])
    with torch.no_grad():
        model.adaptor.compressor.blank.fill_(1e3)
    uncompressed, compressed = plain.embed_speech(noise_wavs), model.embed_speech(noise_wavs)
    for u, c in zip(uncompressed, compressed):
        assert 1 <= c.shape[0] <= u.shape[0]
    assert sum(c.shape[0] for c in compressed) < sum(u.shape[0] for u in uncompressed)  # some run longer than a frame
    saved = model.save_pretrained(tmp_path / "ckpt")
    assert {"compressor.blank", "compressor.log_tau", "compressor.vocab_ids"} <= set(load_file(str(saved / "adaptor.safetensors")))
    again = LSLM.from_pretrained(saved, dtype="float32")
    assert again.config.ctc_tokens == 5
    for a, b in zip(compressed, again.embed_speech(noise_wavs)):
        assert torch.allclose(a, b)
    model.config.ctc_rows = "posterior"  # the row kind is the config's: saved, reloaded, and it changes the rows
    again = LSLM.from_pretrained(model.save_pretrained(tmp_path / "posterior"), dtype="float32")
    assert again.adaptor.compressor.rows == "posterior"
    rows = again.embed_speech(noise_wavs)
    assert [r.shape for r in rows] == [c.shape for c in compressed] and not torch.allclose(rows[0], compressed[0])


def test_the_transcript_stage_compresses_with_the_ctc_heads_frozen_copy(tmp_path, save_tiny_parts, tiny_tokenizer):
    """compress: true puts the CTC stage's head (ctc_state.pt of init_checkpoint) into the adaptor, frozen; the
    checkpoints carry it and reload compressing; without the head the stage refuses, naming the file."""
    from lslm_eval.model import LSLM
    from lslm_eval.trainers.repeat import RepeatConfig, train

    from test_repeat import make_stage_inputs

    options = make_stage_inputs(tmp_path, tiny_tokenizer, save_tiny_parts)
    with pytest.raises(ValueError, match="compress: true needs the CTC stage's head: .*ctc_state.pt not found"):
        train(RepeatConfig.from_dict({**options, "compress": True, "output_dir": str(tmp_path / "refused")}))
    init = LSLM.from_pretrained(options["init_checkpoint"], dtype="float32")
    table = init.llm.get_input_embeddings().weight
    token_ids = sorted({t for r in (tmp_path / "cache" / "texts.jsonl").read_text().splitlines()
                        for t in tiny_tokenizer(json.loads(r)["text"], add_special_tokens=False)["input_ids"]})
    head = CTCHead(table, token_ids)
    with torch.no_grad():
        head.blank.add_(0.3)
    torch.save({"head": head.state_dict()}, f"{options['init_checkpoint']}/ctc_state.pt")
    last = train(RepeatConfig.from_dict({**options, "compress": True, "output_dir": str(tmp_path / "out")}))
    state = load_file(str(last / "adaptor.safetensors"))
    assert torch.equal(state["compressor.blank"], head.blank.detach()) and state["compressor.vocab_ids"].tolist() == token_ids
    start = load_file(f"{options['init_checkpoint']}/adaptor.safetensors")
    assert not torch.equal(state["proj_out.weight"], start["proj_out.weight"])  # the adaptor trained, the head did not
    reloaded = LSLM.from_pretrained(last, dtype="float32")
    assert reloaded.config.ctc_tokens == len(token_ids) and reloaded.adaptor.compressor is not None
