"""What the native backend refuses, and how a family is chosen."""

from types import SimpleNamespace

import pytest

from lslm_eval.backends import load_backend
from lslm_eval.backends.families import FAMILIES, Family, family_for


@pytest.mark.parametrize("model_type, name", [("ultravox", "Ultravox"), ("kimi_audio", "Kimi-Audio")])
def test_families_this_transformers_lacks_are_refused_unless_remote_code_is_trusted(model_type, name):
    import transformers

    with pytest.raises(ValueError, match=rf"{name} \('{model_type}'\) is not implemented by the installed transformers "
                                         rf"{transformers.__version__}; pass trust_remote_code=true"):
        family_for(SimpleNamespace(model_type=model_type))
    assert type(family_for(SimpleNamespace(model_type=model_type), trust_remote_code=True)) is Family


def test_known_families_get_their_entry_and_other_multimodal_lms_the_generic_path():
    assert family_for(SimpleNamespace(model_type="granite_speech")) is FAMILIES["granite_speech"]
    assert type(family_for(SimpleNamespace(model_type="glmasr"))) is Family  # in AutoModelForMultimodalLM, no entry
    with pytest.raises(ValueError, match="not implemented"):
        family_for(SimpleNamespace(model_type="llama"))  # a text LM is not an audio LM


def test_hf_cannot_be_combined_with_the_lslm_parts():
    with pytest.raises(ValueError, match=r"\['checkpoint', 'encoder'\] configure this project's Whisper \+ adaptor LSLM"):
        load_backend(hf="Qwen/Qwen2-Audio-7B-Instruct", checkpoint="runs/x", overrides={"encoder": "tiny.en"})


@pytest.mark.parametrize("model_type, reason", [("gemma3n", "per-layer token embeddings"), ("voxtral", "apply_chat_template")])
def test_families_whose_merge_cannot_run_from_inputs_embeds_are_refused_with_the_reason(model_type, reason):
    with pytest.raises(ValueError, match=f"{model_type} is not served by the native backend: .*{reason}"):
        family_for(SimpleNamespace(model_type=model_type))
