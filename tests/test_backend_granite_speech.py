"""Granite Speech through the native backend: tiny random model, processor from local parts.

Granite's feature extractor builds torchaudio's MelSpectrogram, and torchaudio has no wheel for the
pinned torch 2.13; `TorchMelExtractor` below computes the same kind of features (80 log-mels,
frames stacked in pairs -> 160) with torch.stft and keeps the extractor's own token count
(`_get_num_audio_features`) and output keys. Everything after it (expansion, model, merge) is real."""

import pytest
import torch

from native_checks import FamilyChecks, make_backend
from native_parts import TRANSCRIPTS, TURNS, chatml, make_tokenizer, tiny_text, wavs


def torch_mel_extractor():
    from transformers import BatchFeature
    from transformers.audio_utils import mel_filter_bank
    from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
    from transformers.models.granite_speech.feature_extraction_granite_speech import GraniteSpeechFeatureExtractor

    class TorchMelExtractor(GraniteSpeechFeatureExtractor):
        def __init__(self):
            SequenceFeatureExtractor.__init__(self, feature_size=80, sampling_rate=16000, padding_value=0.0)
            self.melspec_kwargs = {"sample_rate": 16000, "n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 80}
            self.projector_window_size, self.projector_downsample_rate = 15, 5
            self.filters = torch.tensor(mel_filter_bank(257, 80, 0.0, 8000.0, 16000), dtype=torch.float32)

        def __call__(self, audios, device="cpu"):
            batched, lengths = self._get_audios_and_audio_lengths(audios)
            spec = torch.stft(batched.float(), 512, 160, 400, torch.hann_window(400), return_complex=True).abs() ** 2
            logmel = (spec.transpose(1, 2) @ self.filters).clamp_min(1e-10).log10()
            logmel = torch.maximum(logmel, logmel.amax(dim=(-2, -1), keepdim=True) - 8.0) / 4 + 1
            logmel = logmel[:, : logmel.shape[1] // 2 * 2]
            sizes = self._get_num_audio_features(lengths)
            mask = torch.arange(max(sizes)).view(1, -1) < torch.tensor(sizes).view(-1, 1)
            return BatchFeature({"input_features": logmel.reshape(len(lengths), -1, 160), "audio_embed_sizes": sizes,
                                 "input_features_mask": mask})

    return TorchMelExtractor()


def build(has_lora_adapter: bool = False):
    from transformers import GraniteSpeechConfig, GraniteSpeechForConditionalGeneration, GraniteSpeechProcessor

    template = chatml("<|audio|>")
    tokenizer = make_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio|>"], "<|im_end|>", "<|endoftext|>", template)
    processor = GraniteSpeechProcessor(torch_mel_extractor(), tokenizer, chat_template=template)
    config = GraniteSpeechConfig(
        text_config=dict(model_type="granite", **tiny_text(len(tokenizer))),
        encoder_config=dict(input_dim=160, num_layers=2, hidden_dim=16, num_heads=2, output_dim=8, context_size=20, max_pos_emb=64,
                            conv_kernel_size=3, dropout=0.0),
        projector_config=dict(model_type="blip_2_qformer", hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, encoder_hidden_size=16, cross_attention_frequency=1),
        audio_token_index=tokenizer.convert_tokens_to_ids("<|audio|>"), has_lora_adapter=has_lora_adapter)
    torch.manual_seed(0)
    return GraniteSpeechForConditionalGeneration(config).eval(), processor


@pytest.fixture(scope="module")
def parts():
    return build()


class TestGraniteSpeech(FamilyChecks):
    model_type = "granite_speech"
    reload_from_disk = False  # the saved processor would need torchaudio to load back

    def test_the_audio_lora_is_on_for_speech_and_off_for_the_text_twin(self):
        """With its LoRA in place, speech runs through the adapter (as the model's generate does with audio)
        and the text twin through the base LLM; a mixed batch generates per modality, a mixed forward is refused."""
        from peft import LoraConfig, inject_adapter_in_model

        model, processor = build(has_lora_adapter=True)
        inject_adapter_in_model(LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False), model)
        layers = [m for m in model.modules() if hasattr(m, "enable_adapters") and hasattr(m, "lora_A")]
        backend = make_backend(model, processor, self.model_type)
        clip = wavs()[0]
        inputs = backend.processor_inputs(TURNS[0], clip)
        speech = backend.collate(backend.build_items(TURNS[:1], [clip]))
        twin = backend.collate(backend.build_items(TURNS[:1], None, TRANSCRIPTS[:1]))
        with torch.no_grad():
            with_lora = model(**inputs).logits  # the adapter is on by default
            twin_with_lora = model(inputs_embeds=twin.inputs_embeds, attention_mask=twin.attention_mask).logits
            for layer in layers:
                layer.enable_adapters(False)
            base_twin = model(inputs_embeds=twin.inputs_embeds, attention_mask=twin.attention_mask).logits
            for layer in layers:
                layer.enable_adapters(True)
            torch.testing.assert_close(backend(speech).logits, with_lora, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(backend(twin).logits, base_twin, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(base_twin, twin_with_lora)  # the switch matters
        assert all(not layer.disable_adapters for layer in layers)  # restored
        mixed = backend.collate(backend.build_items(TURNS, [clip, None], TRANSCRIPTS))
        with pytest.raises(ValueError, match="all speech or all text"):
            backend(mixed)
        alone = [backend.generate(backend.collate([item]), max_new_tokens=5)[0]
                 for item in backend.build_items(TURNS, [clip, None], TRANSCRIPTS)]
        assert backend.generate(mixed, max_new_tokens=5) == alone  # generated as two batches, one per modality

    def test_a_shipped_lora_that_did_not_load_is_refused(self, tmp_path):
        from lslm_eval.backends.families import FAMILIES

        model, processor = build(has_lora_adapter=True)
        model.save_pretrained(tmp_path)
        with pytest.raises(ValueError, match="audio LoRA .* was not loaded"):
            FAMILIES["granite_speech"].load(str(tmp_path), torch.float32)
