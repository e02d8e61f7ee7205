"""Phi-4-multimodal through the native backend: tiny random model, processor from local parts.

Its decoder merges the audio inside its own forward (embed_tokens_extend), so the backend reads the
merge at the first decoder block's input; its speech LoRA (a `speech-lora/` PEFT folder) is switched
on for speech and off for the text twin. Its image processor needs torchvision (not installed): the
fixture passes the base image processor (audio never uses it), so the saved processor cannot be
loaded back here and the evaluator check hands the plugin the built backend."""

import copy

import pytest
import torch

from native_checks import FamilyChecks, make_backend
from native_parts import TRANSCRIPTS, TURNS, chatml, make_tokenizer, tiny_text, wavs

NAMES = dict(audio_token="<|audio|>", image_token="<|image|>")


@pytest.fixture(scope="module")
def parts():
    from transformers import Phi4MultimodalConfig, Phi4MultimodalFeatureExtractor, Phi4MultimodalForCausalLM, Phi4MultimodalProcessor
    from transformers.image_processing_utils import BaseImageProcessor

    template = chatml("<|audio|>")
    tokenizer = make_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *NAMES.values()], "<|im_end|>", "<|endoftext|>",
                               template, extra_special_tokens=NAMES)
    processor = Phi4MultimodalProcessor(BaseImageProcessor(), Phi4MultimodalFeatureExtractor(), tokenizer,
                                        chat_template=template)
    config = Phi4MultimodalConfig(
        **tiny_text(len(tokenizer)), pad_token_id=tokenizer.pad_token_id, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
        audio_config=dict(hidden_size=16, intermediate_size=32, num_blocks=1, num_attention_heads=2, ext_pw_out_channel=16,
                          depthwise_separable_out_channel=16, nemo_conv_channels=16,
                          audio_token_id=tokenizer.convert_tokens_to_ids(NAMES["audio_token"])),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_token_id=tokenizer.convert_tokens_to_ids(NAMES["image_token"])))
    torch.manual_seed(0)
    return Phi4MultimodalForCausalLM(config).eval(), processor


class TestPhi4Multimodal(FamilyChecks):
    model_type = "phi4_multimodal"
    reload_from_disk = False

    def token_id(self, backend) -> int:
        return backend._base().config.audio_config.audio_token_id

    def test_the_shipped_speech_lora_loads_and_is_on_for_speech_only(self, parts, tmp_path):
        from peft import LoraConfig, get_peft_model

        from lslm_eval.backends.families import FAMILIES

        model, processor = parts
        model.save_pretrained(tmp_path)
        targets = [n for n, m in model.named_modules() if n.startswith("model.layers.") and n.endswith("qkv_proj")]
        lora = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules=targets, init_lora_weights=False))
        lora.save_pretrained(tmp_path / "speech-lora")
        loaded = FAMILIES[self.model_type].load(str(tmp_path), torch.float32)
        backend = make_backend(loaded, processor, self.model_type)
        inputs = backend.processor_inputs(TURNS[0], wavs()[0])
        speech = backend.collate(backend.build_items(TURNS[:1], wavs()[:1]))
        twin = backend.collate(backend.build_items(TURNS[:1], None, TRANSCRIPTS[:1]))
        with torch.no_grad():
            with_lora = loaded(**inputs).logits
            plain = model(inputs_embeds=twin.inputs_embeds, attention_mask=twin.attention_mask).logits
            torch.testing.assert_close(backend(speech).logits, with_lora, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(backend(twin).logits, plain, rtol=1e-5, atol=1e-5)
            assert not torch.allclose(with_lora, model(**inputs).logits)  # the adapter changes the speech pass
