import pytest
import torch

from lslm_eval.generation import DecodeStats, cut_at_stop, generate
from lslm_eval.prompt import AUDIO_PLACEHOLDER

TURNS = [AUDIO_PLACEHOLDER, "what is the capital of france", AUDIO_PLACEHOLDER, "how many legs does a spider have",
         "answer with one word", AUDIO_PLACEHOLDER]


@pytest.fixture()
def items(tiny_lslm, noise_wavs):
    wavs = [noise_wavs[0], None, noise_wavs[1], None, None, noise_wavs[2]]
    return tiny_lslm.build_items(TURNS, wavs)


def one_at_a_time(model, items, **kw):
    return [model.generate(model.collate([item]), **kw)[0] for item in items]


def test_greedy_matches_transformers_generate_on_one_row(tiny_lslm, items):
    batch = tiny_lslm.collate(items[:1])
    reference = tiny_lslm.llm.generate(inputs_embeds=batch.inputs_embeds, attention_mask=batch.attention_mask,
                                       max_new_tokens=10, do_sample=False, pad_token_id=tiny_lslm.tokenizer.pad_token_id)
    expected = tiny_lslm.tokenizer.decode(reference[0], skip_special_tokens=True)
    assert tiny_lslm.generate(batch, max_new_tokens=10) == [expected]
    assert expected  # the comparison is between non-empty texts


@pytest.mark.parametrize("max_rows", [None, 2, 1])
def test_batched_and_refilled_greedy_equal_one_at_a_time(tiny_lslm, items, max_rows):
    # an extra end token that some rows produce early, so rows finish at different steps
    first = one_at_a_time(tiny_lslm, items, max_new_tokens=12)
    tokens = tiny_lslm.tokenizer(first[1], add_special_tokens=False)["input_ids"]
    tiny_lslm.llm.generation_config.eos_token_id = [2, tokens[3]]
    single = one_at_a_time(tiny_lslm, items, max_new_tokens=12)
    stats = DecodeStats()
    batched = tiny_lslm.generate(tiny_lslm.collate(items), max_new_tokens=12, max_rows=max_rows, stats=stats)
    assert batched == single
    assert len(set(single)) > 1 and len({len(s) for s in single}) > 1  # rows differ and end at different steps
    # no slot is spent on a finished row: every computed token belongs to a row that was still running
    assert stats.decode_slots + stats.prefill_rows == stats.kept_tokens
    assert stats.prefill_rows == len(items)
    if max_rows is not None:
        assert stats.prefill_calls > 1  # freed slots were refilled
        assert stats.prefix_tokens == len(items[0].prefix_ids) > 0  # the chat-template prefix ran once


def test_shared_prefix_is_found_only_when_every_row_has_it(tiny_lslm, items):
    from lslm_eval.generation import shared_prefix_length

    batch = tiny_lslm.collate(items)
    assert shared_prefix_length(batch) == len(items[0].prefix_ids) > 0
    row = 2
    batch.inputs_embeds[row, int(batch.attention_mask[row].argmax())] += 1.0  # another system prompt, say
    assert shared_prefix_length(batch) == 0


def test_stop_strings_during_decoding_equal_cutting_afterwards(tiny_lslm, items):
    batch = tiny_lslm.collate(items)
    full = tiny_lslm.generate(batch, max_new_tokens=16)
    stop = [full[0][len(full[0]) // 2 : len(full[0]) // 2 + 2], "zzqq"]  # occurs in row 0 (maybe others), "zzqq" nowhere
    assert stop[0] and stop[0] in full[0]
    plain, early = DecodeStats(), DecodeStats()
    tiny_lslm.generate(batch, max_new_tokens=16, stats=plain)
    stopped = tiny_lslm.generate(batch, max_new_tokens=16, stop=stop, stats=early)
    assert stopped == [cut_at_stop(text, stop) for text in full]
    assert stopped[0] != full[0]
    assert early.decode_slots < plain.decode_slots  # the stopped row left the batch early
    assert tiny_lslm.generate(batch, max_new_tokens=16, stop=stop, max_rows=2) == stopped


def test_sampling_with_a_tiny_nucleus_is_greedy_and_seeds_repeat(tiny_lslm, items):
    batch = tiny_lslm.collate(items)
    greedy = tiny_lslm.generate(batch, max_new_tokens=8)
    assert tiny_lslm.generate(batch, max_new_tokens=8, do_sample=True, top_p=1e-9) == greedy
    torch.manual_seed(0)
    a = tiny_lslm.generate(batch, max_new_tokens=8, do_sample=True, temperature=2.0)
    torch.manual_seed(0)
    b = tiny_lslm.generate(batch, max_new_tokens=8, do_sample=True, temperature=2.0)
    assert a == b and a != greedy


def test_empty_and_zero_token_requests(tiny_lslm, items):
    batch = tiny_lslm.collate(items[:2])
    assert generate(tiny_lslm.llm, tiny_lslm.tokenizer, batch, max_new_tokens=0) == ["", ""]


def test_a_cache_that_cannot_merge_runs_its_rows_in_groups(tiny_lslm, items, monkeypatch):
    from lslm_eval import generation

    single = one_at_a_time(tiny_lslm, items, max_new_tokens=8)
    monkeypatch.setattr(generation._Active, "_layers", lambda self: None)  # as a sliding-window cache
    stats = DecodeStats()
    assert tiny_lslm.generate(tiny_lslm.collate(items), max_new_tokens=8, max_rows=4, stats=stats) == single
    assert stats.prefill_calls == 2  # 4 rows, then the remaining 2 once the first group has ended
