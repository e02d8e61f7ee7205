import json

import pytest
import torch

from lslm_eval.probe.hooks import capture_layers, span_states
from lslm_eval.probe.runner import PairedItem, Prober, paired_states

TRANSCRIPTS = ["what is the capital of france", "how many legs does a spider have", "answer with one word"]


def hook_count(model) -> int:
    return sum(len(layer._forward_hooks) for layer in model.decoder_layers())


def items(noise_wavs):
    return [PairedItem(f"item-{i}", wav, text) for i, (wav, text) in enumerate(zip(noise_wavs, TRANSCRIPTS))]


def test_span_states_have_every_layer_and_only_the_span(tiny_lslm, noise_wavs):
    (key, hs, ht), *_ = paired_states(tiny_lslm, items(noise_wavs), batch_size=3)
    n_layers = tiny_lslm.llm.config.num_hidden_layers
    speech_item = tiny_lslm.build_items(["<audio>"], [noise_wavs[0]])[0]
    assert hs.shape == (n_layers + 1, speech_item.query_len, 32) and hs.dtype == torch.float32
    assert ht.shape[:2] == (n_layers + 1, len(tiny_lslm.tokenizer(TRANSCRIPTS[0], add_special_tokens=False)["input_ids"]))
    torch.testing.assert_close(hs[0], speech_item.query.float())  # layer 0 is the adaptor output


def test_batched_probing_equals_one_at_a_time(tiny_lslm, noise_wavs):
    batched = list(paired_states(tiny_lslm, items(noise_wavs), batch_size=3))
    single = list(paired_states(tiny_lslm, items(noise_wavs), batch_size=1))
    for (k1, hs1, ht1), (k2, hs2, ht2) in zip(batched, single):
        assert k1 == k2
        torch.testing.assert_close(hs1, hs2, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(ht1, ht2, atol=1e-5, rtol=1e-4)


def test_hooks_are_gone_after_a_run_that_raised(tiny_lslm):
    before = hook_count(tiny_lslm)
    with pytest.raises(RuntimeError, match="boom"):
        with capture_layers(tiny_lslm):
            assert hook_count(tiny_lslm) == before + tiny_lslm.llm.config.num_hidden_layers
            raise RuntimeError("boom")
    assert hook_count(tiny_lslm) == before


def test_generation_prefill_capture_matches_a_plain_forward(tiny_lslm, noise_wavs):
    batch = tiny_lslm.collate(tiny_lslm.build_items(["<audio>", "<audio>"], noise_wavs[:2]))
    with capture_layers(tiny_lslm, first_call_only=True) as during_generation:
        tiny_lslm.generate(batch, max_new_tokens=4)
    with torch.no_grad(), capture_layers(tiny_lslm) as plain:
        tiny_lslm(batch)
    for row in range(2):
        torch.testing.assert_close(span_states(batch, during_generation, row), span_states(batch, plain, row))


def test_prober_writes_aggregates_and_items(tmp_path, tiny_lslm, noise_wavs):
    prober = Prober(tmp_path, {"model": "tiny"}, keep_items=True)
    for key, hs, ht in paired_states(tiny_lslm, items(noise_wavs)):
        prober.add(hs, ht, key)
    result = json.loads(prober.write().read_text())
    assert result["n_items"] == 3 and result["info"] == {"model": "tiny"}
    assert len(result["sequence"]["cos"]) == tiny_lslm.llm.config.num_hidden_layers + 1
    assert len(result["cka"]["pooled"]["matrix"]) == tiny_lslm.llm.config.num_hidden_layers + 1
    assert len((tmp_path / "probe_items.jsonl").read_text().splitlines()) == 3


def test_one_hook_primitive_reads_replaces_and_refuses_missing_layers(tiny_lslm, noise_wavs):
    from lslm_eval.probe.hooks import on_layer_outputs

    batch = tiny_lslm.collate(tiny_lslm.build_items(["<audio>"], noise_wavs[:1]))
    with torch.no_grad():
        plain = tiny_lslm(batch).logits
        calls = []
        with on_layer_outputs(tiny_lslm, [1, 2], lambda layer, h: calls.append(layer)):
            assert torch.equal(tiny_lslm(batch).logits, plain)  # read-only: None leaves the output
        assert calls == [1, 2]
        with on_layer_outputs(tiny_lslm, [2], lambda layer, h: torch.zeros_like(h)):
            zeroed = tiny_lslm(batch).logits
    assert not torch.allclose(zeroed, plain) and hook_count(tiny_lslm) == 0
    with pytest.raises(ValueError, match=r"layer\(s\) \[3\] do not exist: the model has decoder layers 1..2"):
        with on_layer_outputs(tiny_lslm, [3], lambda layer, h: None):
            pass
