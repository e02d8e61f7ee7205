
import numpy as np
import pytest
import torch

from lslm_eval.adaptor import Adaptor
from lslm_eval.encoder import CHUNK_SAMPLES, n_encoder_frames
from lslm_eval.model import LSLM, CheckpointError
from lslm_eval.prompt import AUDIO_PLACEHOLDER


def test_encoder_runs_at_the_clip_length_and_chunks_past_30_s(tiny_lslm):
    enc = tiny_lslm.encoder
    short = np.zeros(16000, dtype=np.float32)
    assert enc(short).shape == (50, enc.dim) == (n_encoder_frames(16000), enc.dim)
    long = np.random.default_rng(0).uniform(-0.1, 0.1, CHUNK_SAMPLES + 32000).astype(np.float32)
    frames = enc(long)
    assert frames.shape[0] == 1500 + 100 == n_encoder_frames(long.size)
    torch.testing.assert_close(frames[:1500], enc(long[:CHUNK_SAMPLES]))  # chunks are independent
    with pytest.raises(ValueError, match="too short"):
        enc(np.zeros(100, dtype=np.float32))


def test_padded_mode_drops_the_frames_of_the_padding(tiny_lslm):
    tiny_lslm.encoder.padded = True
    assert tiny_lslm.encoder(np.zeros(16000, dtype=np.float32)).shape[0] == 50


def test_adaptor_stacks_frames_and_keeps_the_tail():
    adaptor = Adaptor(encoder_dim=4, llm_dim=6, stack=3, hidden_dim=5)
    assert adaptor(torch.randn(2, 7, 4)).shape == (2, 3, 6)
    x = torch.randn(1, 6, 4)
    # the group of frames 3..5 alone decides the second output
    y = x.clone(); y[0, :3] += 1
    torch.testing.assert_close(adaptor(x)[0, 1], adaptor(y)[0, 1])


def test_batched_generation_equals_one_at_a_time(tiny_lslm, noise_wavs):
    turns = [AUDIO_PLACEHOLDER, "what is the capital of france", AUDIO_PLACEHOLDER, "how many legs does a spider have"]
    wavs = [noise_wavs[0], None, noise_wavs[1], None]
    items = tiny_lslm.build_items(turns, wavs)
    batched = tiny_lslm.generate(tiny_lslm.collate(items), max_new_tokens=12)
    single = [tiny_lslm.generate(tiny_lslm.collate([item]), max_new_tokens=12)[0] for item in items]
    assert batched == single
    assert len(set(single)) > 1  # the check means something: the rows differ


def test_stop_strings_cut_the_output(tiny_lslm):
    from lslm_eval.model import cut_at_stop

    assert cut_at_stop("Paris. And more\n\nQ:", ["\n\n", "Q:"]) == "Paris. And more"
    assert cut_at_stop("no stop here", ["\n\n"]) == "no stop here"


@pytest.fixture()
def saved_parts(tmp_path, save_tiny_parts):
    """A tiny openai-whisper checkpoint file and a tiny HF LLM directory, as a user would have them."""
    whisper_file, llm_dir = save_tiny_parts(tmp_path, "tiny-whisper.pt", "tiny-llm")
    return str(whisper_file), str(llm_dir)


def test_checkpoint_round_trip_gives_the_same_outputs(tmp_path, saved_parts, noise_wavs):
    from lslm_eval.model import LSLMConfig

    whisper_file, llm_dir = saved_parts
    model = LSLM.build(LSLMConfig(encoder=whisper_file, llm=llm_dir, stack=2, adaptor_hidden=24), dtype="float32", seed=3)
    with torch.no_grad():
        model.adaptor.proj_out.bias.add_(0.5)  # trained weights differ from any fresh init
    model.save_pretrained(tmp_path / "ckpt")
    loaded = LSLM.from_pretrained(tmp_path / "ckpt", dtype="float32")
    items = lambda m: m.collate(m.build_items([AUDIO_PLACEHOLDER], [noise_wavs[0]]))
    with torch.no_grad():
        torch.testing.assert_close(loaded(items(loaded)).logits, model(items(model)).logits)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["adaptor.safetensors", "config.json"]


def test_a_checkpoint_for_other_dimensions_is_refused(tmp_path, saved_parts, tiny_tokenizer):
    from lslm_eval.model import LSLMConfig

    whisper_file, llm_dir = saved_parts
    model = LSLM.build(LSLMConfig(encoder=whisper_file, llm=llm_dir, stack=2, adaptor_hidden=24), dtype="float32")
    model.save_pretrained(tmp_path / "ckpt")
    wide_dir = tmp_path / "wide-llm"
    from transformers import LlamaConfig, LlamaForCausalLM

    LlamaForCausalLM(LlamaConfig(vocab_size=len(tiny_tokenizer), hidden_size=48, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=4, num_key_value_heads=2)).save_pretrained(wide_dir)
    tiny_tokenizer.save_pretrained(wide_dir)
    with pytest.raises(CheckpointError, match="LLM width 32.*has width 48"):
        LSLM.from_pretrained(tmp_path / "ckpt", dtype="float32", llm=str(wide_dir))
    with pytest.raises(CheckpointError, match="not an lslm-eval checkpoint"):
        LSLM.from_pretrained(tmp_path / "nowhere")


def test_bfloat16_runs_the_encoder_in_bf16_activations_over_float32_weights(saved_parts, noise_wavs):
    from lslm_eval.model import LSLMConfig

    whisper_file, llm_dir = saved_parts
    model = LSLM.build(LSLMConfig(encoder=whisper_file, llm=llm_dir, stack=2, adaptor_hidden=24), dtype="bfloat16")
    assert model.encoder.encoder.conv1.weight.dtype == torch.float32
    (speech,) = model.embed_speech([noise_wavs[0]])
    assert speech.dtype == torch.bfloat16 and torch.isfinite(speech.float()).all()
    assert len(model.generate(model.collate(model.build_items([AUDIO_PLACEHOLDER], [noise_wavs[0]])), max_new_tokens=3)) == 1


def test_lslm_is_a_complete_backend(tiny_lslm):
    from lslm_eval.backends.base import SpeechLM, missing_members

    assert missing_members(tiny_lslm) == [] and isinstance(tiny_lslm, SpeechLM)
    assert tiny_lslm.language_model is tiny_lslm.llm and len(tiny_lslm.decoder_layers()) == 2


def test_response_logits_are_the_full_logits_at_the_response_positions(tiny_lslm, noise_wavs):
    """Only the positions that predict a response token are projected; they, and the loss over them, equal what
    the full forward gives (rows of different prompt and response lengths, right-padded, speech and text)."""
    import torch.nn.functional as F

    items = tiny_lslm.build_items([AUDIO_PLACEHOLDER] * 3, [noise_wavs[0], None, noise_wavs[1]], [None, "a b c d e", None])
    for item, response in zip(items, [[5, 6, 7], [8], [9, 10, 11, 12, 13]]):
        item.response_ids = response
    batch = tiny_lslm.collate(items, padding_side="right")
    with torch.no_grad():
        full = tiny_lslm(batch)
        logits, targets = tiny_lslm.response_logits(batch)
    assert targets.tolist() == [5, 6, 7, 8, 9, 10, 11, 12, 13]
    torch.testing.assert_close(logits, full.logits[:, :-1][batch.labels[:, 1:] != -100], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(F.cross_entropy(logits, targets), full.loss, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padded", [False, True])
def test_batched_encoding_gives_each_clip_its_unbatched_frames(tiny_lslm, noise_wavs, padded):
    enc = tiny_lslm.encoder
    enc.padded = padded
    rng = np.random.default_rng(1)
    long = rng.uniform(-0.1, 0.1, CHUNK_SAMPLES + 9000).astype(np.float32)  # two chunks of different lengths
    wavs = [*noise_wavs, long, noise_wavs[0][:7999]]
    batched = enc.encode_batch(wavs, batch_size=3)
    for wav, frames in zip(wavs, batched):
        single = enc(wav)
        assert frames.shape == single.shape
        torch.testing.assert_close(frames, single, rtol=1e-4, atol=1e-4)
    # the mask matters: without it the padding of a longer neighbour changes a short clip's frames
    from lslm_eval import encoder as encoder_module

    if not padded:
        unmasked = encoder_module._masked_block
        try:
            encoder_module._masked_block = lambda block, x, keys: block(x)
            leaked = enc.encode_batch(wavs[:3], batch_size=3)
        finally:
            encoder_module._masked_block = unmasked
        assert not torch.allclose(leaked[2], enc(wavs[2]), atol=1e-4)
