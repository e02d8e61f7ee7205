import pytest
import torch
from lm_eval.api.instance import Instance

from lslm_eval.intervene.calibration import estimate_calibration, speech_fingerprint
from lslm_eval.intervene.edits import BOTTOM_K, CalibrationStats, calibrate, edit_tokens, select_targets
from lslm_eval.intervene.hooks import intervention
from lslm_eval.intervene.settings import Intervention, paper_grid, parse_targets
from lslm_eval.model import LSLM
from lslm_eval.probe.hooks import capture_layers
from lslm_eval.probe.runner import PairedItem

TRANSCRIPTS = ["what is the capital of france", "how many legs does a spider have", "answer with one word"]
TURNS = ["<audio>", "answer this: <audio>", "the quick brown fox"]  # the last row is a text request


def mixed_batch(model, wavs):
    """Rows 0, 1: speech with transcripts; row 2: a plain text request."""
    items = model.build_items(TURNS, [wavs[0], wavs[1], None], [TRANSCRIPTS[0], TRANSCRIPTS[1], None])
    return model.collate(items)


def token_embeddings(model, text):
    ids = torch.tensor(model.tokenizer(text, add_special_tokens=False)["input_ids"])
    return model.embed_tokens(ids)


def hook_count(model) -> int:
    return sum(len(layer._forward_hooks) for layer in model.decoder_layers())


def test_targets_and_settings_parse():
    assert parse_targets("bottom3") == (BOTTOM_K, 3) and parse_targets("bottom-12") == (BOTTOM_K, 12)
    assert parse_targets("all") == ("all", 0)
    for bad in ("bottom0", "top3", "bottom"):
        with pytest.raises(ValueError, match="bottomK"):
            parse_targets(bad)
    with pytest.raises(ValueError, match="needs stats"):
        Intervention.from_args("calibrate")
    with pytest.raises(ValueError, match="must be one of"):
        Intervention.from_args("rotate")
    names = [s.name if s else "Original" for s in paper_grid()]
    assert names == ["Original", "Angle Bottom3", "Angle All", "Length Bottom3", "Length All"]


@pytest.mark.parametrize("edit,targets", [("angle", "bottom3"), ("length", "all")])
def test_layer0_generation_equals_generation_from_manually_edited_embeddings(tiny_lslm, noise_wavs, edit, targets):
    batch = mixed_batch(tiny_lslm, noise_wavs)
    manual = batch.inputs_embeds.clone()
    selection, k = parse_targets(targets)
    for row in (0, 1):
        span = batch.span(row)
        manual[row, span] = edit_tokens(batch.inputs_embeds[row, span], token_embeddings(tiny_lslm, TRANSCRIPTS[row]), edit, selection, k)
    manual_batch = type(batch)(manual, batch.attention_mask, batch.position_ids, batch.span_start, batch.span_len)
    expected = tiny_lslm.generate(manual_batch, max_new_tokens=6)
    setting = Intervention.from_args(edit, targets, 0)
    with intervention(tiny_lslm, batch, setting, [0, 1], TURNS, TRANSCRIPTS + [None]) as edited:
        torch.testing.assert_close(edited.inputs_embeds, manual, rtol=0, atol=1e-6)
        assert tiny_lslm.generate(edited, max_new_tokens=6) == expected
    assert not torch.equal(manual, batch.inputs_embeds)  # the edit did something, the caller's batch is untouched


def test_layer0_leaves_untargeted_frames_and_text_rows_bit_identical(tiny_lslm, noise_wavs):
    batch = mixed_batch(tiny_lslm, noise_wavs)
    original = batch.inputs_embeds.clone()
    with intervention(tiny_lslm, batch, Intervention.from_args("angle", "bottom2"), [0, 1], TURNS, TRANSCRIPTS) as edited:
        out = edited.inputs_embeds
    assert torch.equal(out[2], original[2])  # the text request
    for row in (0, 1):
        span = batch.span(row)
        frames = select_targets(original[row, span], token_embeddings(tiny_lslm, TRANSCRIPTS[row]), BOTTOM_K, 2).frames
        changed = torch.zeros(out.shape[1], dtype=torch.bool)
        changed[span.start + frames] = True
        assert torch.equal(out[row, ~changed], original[row, ~changed])  # prefix, suffix, padding, other frames
        assert not torch.equal(out[row, changed], original[row, changed])
    assert torch.equal(batch.inputs_embeds, original)


def test_hook_is_gone_after_a_run_that_raised(tiny_lslm, noise_wavs):
    batch = mixed_batch(tiny_lslm, noise_wavs)
    before = hook_count(tiny_lslm)
    with pytest.raises(RuntimeError, match="boom"):
        with intervention(tiny_lslm, batch, Intervention.from_args("angle", "all", 2), [0, 1], TURNS, TRANSCRIPTS):
            assert hook_count(tiny_lslm) == before + 1
            raise RuntimeError("boom")
    assert hook_count(tiny_lslm) == before


def test_layer_above_0_edits_only_span_rows_and_only_at_the_prefill(tiny_lslm, noise_wavs):
    layer = 1
    batch = mixed_batch(tiny_lslm, noise_wavs)
    twins = tiny_lslm.collate(tiny_lslm.build_items(TURNS[:2], None, TRANSCRIPTS[:2]))
    with torch.no_grad(), capture_layers(tiny_lslm) as text_pass:
        tiny_lslm(twins)
    target = tiny_lslm.decoder_layers()[layer - 1]
    raw, seen = [], []  # the layer's own outputs, and what the next layer receives
    keep = lambda store: (lambda module, args, output: store.append((output[0] if isinstance(output, tuple) else output).clone()))
    setting = Intervention.from_args("angle", "all", layer)
    with intervention(tiny_lslm, batch, setting, [0, 1], TURNS, TRANSCRIPTS) as edited:
        handles = [target.register_forward_hook(keep(raw), prepend=True), target.register_forward_hook(keep(seen))]
        try:
            tiny_lslm.generate(edited, max_new_tokens=4)
        finally:
            for handle in handles:
                handle.remove()
    assert len(raw) == len(seen) > 1
    prefill_raw, prefill_seen = raw[0], seen[0]
    assert prefill_raw.shape[1] == batch.inputs_embeds.shape[1]
    mask = torch.zeros(prefill_raw.shape[:2], dtype=torch.bool)
    for row in (0, 1):
        span = batch.span(row)
        mask[row, span] = True
        expected = edit_tokens(prefill_raw[row, span], text_pass[layer - 1][row, twins.span(row)], "angle", "all")
        torch.testing.assert_close(prefill_seen[row, span], expected, rtol=0, atol=1e-6)
    assert torch.equal(prefill_seen[~mask], prefill_raw[~mask])  # text row, template, padding untouched
    assert not torch.equal(prefill_seen[mask], prefill_raw[mask])
    for step_raw, step_seen in zip(raw[1:], seen[1:]):  # decoding steps pass through unedited
        assert torch.equal(step_raw, step_seen)
    assert hook_count(tiny_lslm) == 0


def test_calibration_edits_the_whole_span_with_the_statistics(tiny_lslm, noise_wavs):
    stats = estimate_calibration(tiny_lslm, [PairedItem("a", noise_wavs[2], TRANSCRIPTS[2])], layer=0)
    assert stats.keys == {speech_fingerprint(noise_wavs[2])}
    batch = mixed_batch(tiny_lslm, noise_wavs)
    setting = Intervention(edit="calibrate_mean", layer=0, stats=stats)
    with intervention(tiny_lslm, batch, setting, [0, 1]) as edited:  # no transcripts needed
        for row in (0, 1):
            span = batch.span(row)
            expected = calibrate(batch.inputs_embeds[row, span], stats, mean_only=True)
            assert torch.equal(edited.inputs_embeds[row, span], expected)
        assert torch.equal(edited.inputs_embeds[2], batch.inputs_embeds[2])


def test_angle_without_a_transcript_is_refused(tiny_lslm, noise_wavs):
    batch = mixed_batch(tiny_lslm, noise_wavs)
    with pytest.raises(ValueError, match="transcript"):
        with intervention(tiny_lslm, batch, Intervention.from_args("angle"), [0, 1], TURNS, [TRANSCRIPTS[0], None, None]):
            pass


def test_a_layer_the_model_lacks_is_refused(tiny_lslm, noise_wavs):
    with pytest.raises(ValueError, match="decoder layers"):
        with intervention(tiny_lslm, mixed_batch(tiny_lslm, noise_wavs), Intervention.from_args("angle", layer=3), [0], TURNS, TRANSCRIPTS):
            pass


# ---------------------------------------------------------------- inside the lm-eval model

def harness(monkeypatch, model, **model_args):
    from lslm_eval.plugins.lslm import LSLMEval

    monkeypatch.setattr(LSLM, "from_pretrained", classmethod(lambda cls, *args, **kwargs: model))
    return LSLMEval(checkpoint="tiny", device="cpu", batch_size=2, max_gen_toks=5, **model_args)


def requests(wavs, transcripts):
    gen = {"until": [], "max_gen_toks": 5, "do_sample": False}
    return [Instance("generate_until", {}, ("<audio>", gen, {"audio": [{"array": wav, "sampling_rate": 16000, "transcript": text}]}),
                     idx=0, metadata=("sdqa", i, 1)) for i, (wav, text) in enumerate(zip(wavs, transcripts))]


def test_harness_generation_with_intervene_equals_the_hook(monkeypatch, tiny_lslm, noise_wavs):
    lm = harness(monkeypatch, tiny_lslm, intervene="angle", targets="all", layer=1)
    assert lm.get_model_info()["intervention"] == {"intervene": "angle", "targets": "all", "layer": 1, "stats": None}
    got = lm.generate_until(requests(noise_wavs[:2], TRANSCRIPTS[:2]))
    batch = tiny_lslm.collate(tiny_lslm.build_items(["<audio>"] * 2, noise_wavs[:2], TRANSCRIPTS[:2]))
    with intervention(tiny_lslm, batch, lm.intervention, [0, 1], ["<audio>"] * 2, TRANSCRIPTS[:2]) as edited:
        expected = tiny_lslm.generate(edited, max_new_tokens=5)
    assert got == expected
    assert hook_count(tiny_lslm) == 0
    lm.set_intervention(None)
    assert lm.get_model_info()["intervention"] is None


def test_calibration_overlap_is_refused_unless_allowed(monkeypatch, tmp_path, tiny_lslm, noise_wavs):
    stats = estimate_calibration(tiny_lslm, [PairedItem("x", noise_wavs[0], TRANSCRIPTS[0])], layer=0)
    path = stats.save(tmp_path / "stats.safetensors")
    lm = harness(monkeypatch, tiny_lslm, intervene="calibrate", stats=str(path))
    with pytest.raises(ValueError, match="1 evaluation item"):
        lm.generate_until(requests(noise_wavs[:2], TRANSCRIPTS[:2]))
    assert lm.generate_until(requests(noise_wavs[1:], TRANSCRIPTS[1:]))  # disjoint items run
    allowed = harness(monkeypatch, tiny_lslm, intervene="calibrate", stats=str(path), allow_overlap="true")
    assert len(allowed.generate_until(requests(noise_wavs[:2], TRANSCRIPTS[:2]))) == 2
    assert CalibrationStats.load(path).keys == {speech_fingerprint(noise_wavs[0])}
