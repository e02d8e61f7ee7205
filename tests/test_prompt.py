import pytest
import torch

from lslm_eval.prompt import AUDIO_PLACEHOLDER, IGNORE_INDEX, PromptItem


def test_speech_and_text_share_every_position_outside_the_span(tiny_lslm, noise_wavs):
    transcript = "what is the capital of france"
    turn = f"answer with one word: {AUDIO_PLACEHOLDER}"
    speech, text = tiny_lslm.build_items([turn, turn], [noise_wavs[0], None], [transcript, transcript])
    assert speech.is_speech and not text.is_speech
    assert speech.prefix_ids == text.prefix_ids and speech.suffix_ids == text.suffix_ids
    assert text.query == tiny_lslm.tokenizer(transcript, add_special_tokens=False)["input_ids"]
    batch = tiny_lslm.collate([speech, text])
    for row, item in enumerate([speech, text]):
        span = batch.span(row)
        assert span.stop - span.start == item.query_len
        assert batch.attention_mask[row, span].all()  # padding never inside a span
    # outside the spans both rows embed the same tokens, aligned from the end (left padding)
    s_span, t_span = batch.span(0), batch.span(1)
    torch.testing.assert_close(batch.inputs_embeds[0, s_span.stop:], batch.inputs_embeds[1, t_span.stop:])
    n_prefix = len(speech.prefix_ids)
    torch.testing.assert_close(batch.inputs_embeds[0, s_span.start - n_prefix:s_span.start], batch.inputs_embeds[1, t_span.start - n_prefix:t_span.start])


def test_text_task_query_is_the_whole_user_turn(tiny_lslm):
    (item,) = tiny_lslm.build_items(["how many legs does a spider have"])
    rendered = tiny_lslm.tokenizer.decode(item.prefix_ids + item.query + item.suffix_ids)
    assert rendered == "<|im_start|>user\nhow many legs does a spider have<|im_end|>\n<|im_start|>assistant\n"


def test_bad_requests_are_refused(tiny_lslm, noise_wavs):
    with pytest.raises(ValueError, match="neither speech nor a transcript"):
        tiny_lslm.build_items([AUDIO_PLACEHOLDER])
    with pytest.raises(ValueError, match="no <audio> placeholder"):
        tiny_lslm.build_items(["plain text"], [noise_wavs[0]])
    with pytest.raises(ValueError, match="more than one"):
        tiny_lslm.build_items([AUDIO_PLACEHOLDER * 2], [noise_wavs[0]])


def test_right_padding_labels_mark_only_the_response(tiny_lslm):
    (item,) = tiny_lslm.build_items(["what is the capital of france"])
    short = PromptItem(item.prefix_ids, item.query[:2], item.suffix_ids, response_ids=[5, 6, 7])
    long = PromptItem(item.prefix_ids, item.query, item.suffix_ids, response_ids=[8, 9])
    batch = tiny_lslm.collate([short, long], padding_side="right")
    assert batch.labels[0][batch.labels[0] != IGNORE_INDEX].tolist() == [5, 6, 7]
    assert batch.labels[1][batch.labels[1] != IGNORE_INDEX].tolist() == [8, 9]
    assert (batch.labels[batch.attention_mask == 0] == IGNORE_INDEX).all()
    assert batch.span_start.tolist() == [len(item.prefix_ids)] * 2
