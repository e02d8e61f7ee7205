"""`--model_args` of lm-eval's `lslm` model: typos are errors, lm-eval's own extras merge, batch sizes are checked."""

import pytest


LM_EVAL_EXTRAS = {"batch_size": 1, "max_batch_size": None, "device": None}  # what lm_eval's CLI sends by default


@pytest.fixture()
def checkpoint(tiny_checkpoint):
    return tiny_checkpoint


def lslm_class():
    import lm_eval.models  # noqa: F401
    from lm_eval.api.registry import get_model

    return get_model("lslm")


def test_a_misspelt_model_argument_is_an_error_listing_the_known_ones():
    from lslm_eval.plugins.lslm import ModelArgError

    with pytest.raises(ModelArgError, match=r"unknown model argument 'checkpont' \(did you mean 'checkpoint'\?\); known: .*batch_size.*checkpoint"):
        lslm_class().create_from_arg_string("checkpont=/some/where", dict(LM_EVAL_EXTRAS))
    with pytest.raises(ModelArgError, match="'zzz'"):
        lslm_class().create_from_arg_obj({"zzz": 1}, dict(LM_EVAL_EXTRAS))


def test_batch_size_as_a_model_argument_wins_over_lm_evals_default(checkpoint):
    lm = lslm_class().create_from_arg_string(f"checkpoint={checkpoint},batch_size=3,dtype=float32", dict(LM_EVAL_EXTRAS, device="cpu"))
    assert lm.batch_size == 3
    lm = lslm_class().create_from_arg_string(f"checkpoint={checkpoint},dtype=float32", dict(LM_EVAL_EXTRAS, batch_size="5", max_batch_size=64))
    assert lm.batch_size == 5 and str(lm.model.device) == "cpu"


@pytest.mark.parametrize("size", ["0", 0, "-2", "two", "1.5"])
def test_a_batch_size_that_is_not_a_positive_integer_is_named(size):
    from lslm_eval.plugins.lslm import ModelArgError, parse_batch_size

    with pytest.raises(ModelArgError, match=f"batch_size must be a positive integer or 'auto', got {size!r}"):
        parse_batch_size(size)
    assert parse_batch_size("auto") == parse_batch_size("auto:4") == 8 and parse_batch_size("4") == 4


def test_batch_size_zero_from_the_lm_eval_command_line_is_refused_before_loading(tmp_path):
    from lslm_eval.plugins.lslm import ModelArgError

    with pytest.raises(ModelArgError, match="got '0'"):
        lslm_class().create_from_arg_string(f"checkpoint={tmp_path / 'nowhere'}", dict(LM_EVAL_EXTRAS, batch_size="0"))
