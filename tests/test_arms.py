"""The text@base arm of the lslm model (lslm_eval.arms): the original LLM answers the text twins."""

from __future__ import annotations

import pytest
import torch
from lm_eval.api.instance import Instance

from lslm_eval.model import LSLM

GEN = {"until": [], "max_gen_toks": 6, "do_sample": False}
QUESTIONS = ["what is the capital of france", "how many legs does a spider have"]


def text_requests():
    return [Instance("generate_until", {}, (q, GEN), idx=0, metadata=("sdqa_text", i, 1)) for i, q in enumerate(QUESTIONS)]


def harness(monkeypatch, model, **model_args):
    from lslm_eval.plugins.lslm import LSLMEval

    monkeypatch.setattr(LSLM, "from_pretrained", classmethod(lambda cls, *args, **kwargs: model))
    return LSLMEval(checkpoint="tiny", device="cpu", batch_size=2, max_gen_toks=6, **model_args)


def answers(model) -> list[str]:
    return model.generate(model.collate(model.build_items(QUESTIONS)), max_new_tokens=6)


def with_lora(model):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    model.llm = get_peft_model(model.llm, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    return model


def test_text_at_base_disables_the_peft_adapter(monkeypatch, tiny_lslm):
    base = answers(tiny_lslm)
    tuned_model = with_lora(tiny_lslm)
    tuned = answers(tuned_model)
    assert tuned != base  # the random LoRA weights change the answers
    assert harness(monkeypatch, tuned_model).generate_until(text_requests()) == tuned
    lm = harness(monkeypatch, tuned_model, arm="text@base")
    assert lm.generate_until(text_requests()) == base
    assert answers(tuned_model) == tuned  # the adapters are back after the arm's requests
    assert lm.get_model_info()["arm"] == "text@base"


def test_text_at_base_refuses_speech_and_unknown_arms(monkeypatch, tiny_lslm, noise_wavs):
    lm = harness(monkeypatch, with_lora(tiny_lslm), arm="text@base")
    speech = [Instance("generate_until", {}, ("<audio>", GEN, {"audio": [{"array": noise_wavs[0], "sampling_rate": 16000}]}),
                       idx=0, metadata=("sdqa", 0, 1))]
    with pytest.raises(ValueError, match="text twins only"):
        lm.generate_until(speech)
    with pytest.raises(ValueError, match="arm='cascade' is not an arm of the lslm model"):
        harness(monkeypatch, tiny_lslm, arm="cascade")


def test_text_at_base_of_a_full_fine_tune_loads_the_configs_llm(monkeypatch, tmp_path, tiny_lslm, llm_factory):
    import lslm_eval.model as model_module
    from lslm_eval.arms import base_llm

    base = answers(tiny_lslm)
    original_llm, tokenizer = tiny_lslm.llm, tiny_lslm.tokenizer
    tiny_lslm.save_pretrained(tmp_path / "ck", save_full_llm=True)  # config.llm stays the base name
    tiny_lslm.llm = llm_factory(len(tokenizer), seed=7)  # "fine-tuned"
    assert answers(tiny_lslm) != base
    monkeypatch.setattr(model_module, "load_llm", lambda config, dtype, device: (original_llm, tokenizer))
    context = base_llm(tiny_lslm, str(tmp_path / "ck"))
    with context():
        assert answers(tiny_lslm) == base
