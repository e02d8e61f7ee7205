"""The checks every transformers-native family passes (tests/test_backend_<family>.py subclass them).

A family module defines a module-scoped fixture `parts` returning (model, processor) of a tiny random
model and a processor built from local parts, and a class `TestX(FamilyChecks)`."""

from __future__ import annotations

import pytest
import torch

from lslm_eval.backends.families import FAMILIES, Family
from lslm_eval.backends.native import NativeConfig, NativeSpeechLM
from lslm_eval.intervene.hooks import intervention
from lslm_eval.intervene.settings import Intervention
from lslm_eval.probe.runner import PairedItem, paired_states
from native_parts import TRANSCRIPTS, TURNS, wavs


def make_backend(model, processor, model_type: str) -> NativeSpeechLM:
    return NativeSpeechLM(NativeConfig(hf="tiny", family=model_type), model, processor, FAMILIES.get(model_type, Family()))


def hook_count(backend) -> int:
    return sum(len(layer._forward_hooks) + len(layer._forward_pre_hooks) for layer in backend.decoder_layers())


class FamilyChecks:
    model_type: str = ""
    reload_from_disk = True  # the evaluator test saves model + processor and loads them by hf=DIR

    @pytest.fixture()
    def backend(self, parts):
        model, processor = parts
        return make_backend(model, processor, self.model_type)

    def token_id(self, backend) -> int:
        return backend.family.audio_token_id(backend._base().config)

    # ---------------------------------------------------------------- prompts and spans
    def test_span_is_the_placeholder_run_and_the_twin_shares_everything_else(self, backend):
        clips = wavs()
        speech = backend.build_items(TURNS, clips, TRANSCRIPTS)
        twins = backend.build_items(TURNS, None, TRANSCRIPTS)
        for turn, clip, item, twin, text in zip(TURNS, clips, speech, twins, TRANSCRIPTS):
            ids = backend.processor_inputs(turn, clip)["input_ids"][0].tolist()
            assert item.query_len == ids.count(self.token_id(backend)) > 0
            assert item.prefix_ids + [self.token_id(backend)] * item.query_len + item.suffix_ids == ids
            assert (twin.prefix_ids, twin.suffix_ids) == (item.prefix_ids, item.suffix_ids)
            assert twin.query == backend.tokenizer(text, add_special_tokens=False)["input_ids"]
        assert speech[0].query_len != speech[1].query_len  # the span follows the clip's length

    def test_response_logits_are_the_forward_logits_at_the_response_positions(self, backend):
        items = backend.build_items(TURNS[:2], wavs()[:2])
        for item, response in zip(items, [[3, 4], [5, 6, 7]]):
            item.response_ids = response
        batch = backend.collate(items, padding_side="right")
        with torch.no_grad():
            full = backend(batch).logits
            logits, targets = backend.response_logits(batch)
        assert targets.tolist() == [3, 4, 5, 6, 7]
        torch.testing.assert_close(logits, full[:, :-1][batch.labels[:, 1:] != -100], rtol=1e-5, atol=1e-5)

    def test_backend_embeddings_equal_the_models_own_merge(self, backend):
        clip = wavs()[1]
        inputs = backend.processor_inputs(TURNS[1], clip)
        batch = backend.collate(backend.build_items(TURNS[1:], [clip]))
        with torch.no_grad():
            own = backend.model(**inputs).logits[0]
            ours = backend(batch).logits[0]
        torch.testing.assert_close(ours, own, rtol=1e-5, atol=1e-5)
        placeholder = backend.embed_tokens(torch.tensor([self.token_id(backend)]))[0]
        span = batch.inputs_embeds[0, batch.span(0)]
        assert not torch.allclose(span, placeholder.expand_as(span))  # the audio features, not the placeholder

    def test_a_speech_request_without_audio_tokens_is_an_error(self, backend, monkeypatch):
        """A processor that drops the audio (as peers' wrappers did with `audios=`) must not yield a text answer."""
        text_only = backend.processor.tokenizer("no audio in this prompt", return_tensors="pt")
        monkeypatch.setattr(backend, "processor_inputs", lambda turn, wav: dict(text_only))
        with pytest.raises(ValueError, match="holds no audio placeholder token"):
            backend.build_items(["<audio>"], wavs()[:1])

    # ---------------------------------------------------------------- generation
    def test_batched_greedy_equals_one_at_a_time(self, backend):
        items = backend.build_items(TURNS, wavs())
        batched = backend.collate(items)
        assert batched.attention_mask[0].sum() != batched.attention_mask[1].sum()  # left padding is exercised
        with torch.no_grad():
            logits = backend(batched).logits
            for row, item in enumerate(items):
                alone = backend(backend.collate([item])).logits[0]
                torch.testing.assert_close(logits[row, -alone.shape[0]:][-1], alone[-1], rtol=1e-4, atol=1e-4)
        together = backend.generate(batched, max_new_tokens=6)
        assert together == [backend.generate(backend.collate([item]), max_new_tokens=6)[0] for item in items]

    def test_generate_until_through_lm_evals_evaluator(self, parts, tmp_path, monkeypatch):
        """hf=DIR: the model and processor saved to disk and loaded back by the plugin's own path
        (families whose processor cannot be loaded back here hand the plugin the built backend)."""
        from lm_eval.evaluator import simple_evaluate

        from lslm_eval.plugins.lslm import LSLMEval
        from test_intervene_grid import TASK_CODE, TASK_YAML

        model, processor = parts
        if self.reload_from_disk:
            model.save_pretrained(tmp_path / "model")
            processor.save_pretrained(tmp_path / "model")
        else:
            built = make_backend(model, processor, self.model_type)
            monkeypatch.setattr(NativeSpeechLM, "from_pretrained", classmethod(lambda cls, *a, **k: built))
        lm = LSLMEval(hf=str(tmp_path / "model"), device="cpu", batch_size=2, max_gen_toks=4)
        assert type(lm.model).__name__ == "NativeSpeechLM" and lm.model.config.family == self.model_type
        folder = tmp_path / "tasks"
        folder.mkdir()
        (folder / "tiny.yaml").write_text(TASK_YAML)
        (folder / "tiny_text.yaml").write_text(TASK_YAML.replace("task: tiny_speech_qa", "task: tiny_speech_qa_text")
                                               .replace('doc_to_text: "<audio>"', "doc_to_text: prompt")
                                               .replace("doc_to_audio: !function tiny_task.doc_to_audio\n", ""))
        (folder / "tiny_task.py").write_text(TASK_CODE)
        from lm_eval.tasks import TaskManager

        manager = TaskManager(include_path=str(folder), include_defaults=False)
        results = simple_evaluate(model=lm, tasks=["tiny_speech_qa", "tiny_speech_qa_text"], task_manager=manager,
                                  bootstrap_iters=0, log_samples=True)
        for task in ("tiny_speech_qa", "tiny_speech_qa_text"):
            samples = results["samples"][task]
            assert len(samples) == 3 and all(isinstance(s["resps"][0][0], str) for s in samples)

    # ---------------------------------------------------------------- probe and interventions
    def test_probe_records_every_layer_of_the_span(self, backend):
        clips = wavs()
        items = [PairedItem(f"k{i}", clip, text, turn) for i, (clip, text, turn) in enumerate(zip(clips, TRANSCRIPTS, TURNS))]
        speech = backend.build_items(TURNS, clips, TRANSCRIPTS)
        n_layers = len(backend.decoder_layers())
        for (key, hs, ht), item, text in zip(paired_states(backend, items, batch_size=2), speech, TRANSCRIPTS):
            assert hs.shape[:2] == (n_layers + 1, item.query_len)
            assert ht.shape[:2] == (n_layers + 1, len(backend.tokenizer(text, add_special_tokens=False)["input_ids"]))
            torch.testing.assert_close(hs[0], item.query.float())  # layer 0 is the merged audio features
        assert hook_count(backend) == 0

    @pytest.mark.parametrize("edit, layer", [("angle", 1), ("length", 2), ("calibrate_mean", 0)])
    def test_interventions_edit_only_the_span(self, backend, edit, layer, tmp_path):
        clips = wavs()
        batch = backend.collate(backend.build_items(TURNS, clips, TRANSCRIPTS))
        stats = None
        if edit.startswith("calibrate"):
            from lslm_eval.intervene.calibration import estimate_calibration

            other = wavs(seconds=(0.8,), seed=5)
            stats = estimate_calibration(backend, [PairedItem("cal", other[0], TRANSCRIPTS[0])], layer=layer).save(tmp_path / "s.safetensors")
        setting = Intervention.from_args(edit, "all" if stats is None else None, layer, str(stats) if stats else None)
        seen = []
        target = backend.decoder_layers()[max(layer, 1) - 1]

        def run(b):  # the layer's output as the next layer receives it (after any edit)
            keep = target.register_forward_hook(lambda m, a, out: seen.append((out[0] if isinstance(out, tuple) else out).clone()))
            try:
                backend(b)
            finally:
                keep.remove()

        with torch.no_grad():
            run(batch)
            with intervention(backend, batch, setting, [0, 1], TURNS, TRANSCRIPTS) as edited:
                run(edited)
        plain, changed = seen
        outside = torch.ones(plain.shape[:2], dtype=torch.bool)
        for row in (0, 1):
            outside[row, batch.span(row)] = False
            if layer == 0:  # the edit is in the inputs: layer 1 sees it from the span on (causal attention)
                outside[row, int(batch.span_start[row]):] = False
        assert torch.equal(plain[outside], changed[outside])
        assert not torch.equal(plain, changed)
        assert hook_count(backend) == 0

    # ---------------------------------------------------------------- training
    def test_one_lora_step_lowers_the_loss_and_the_checkpoint_reloads(self, parts, tmp_path):
        """The trainer's own preparation and objective: LoRA on the text decoder, the projector trainable,
        the audio encoder frozen; save_pretrained / load_trained give back the same outputs."""
        import copy

        from lslm_eval.trainers.config import TrainConfig
        from lslm_eval.trainers.data import response_token_ids
        from lslm_eval.trainers.objective import InstructionObjective, mark_native_trainable

        model, processor = parts
        backend = make_backend(copy.deepcopy(model), processor, self.model_type)
        mark_native_trainable(backend, TrainConfig(data="-", hf="tiny", lora_r=4, lora_alpha=8.0, lora_dropout=0.0))
        layers = backend.decoder_layers()
        layers_prefix = next(name for name, module in backend.model.named_modules() if module is layers)
        trainable = [n for n, p in backend.model.named_parameters() if p.requires_grad]
        projector = [f".{name}." for name in backend.family.projector]
        assert any("lora_" in n for n in trainable) and any(any(x in f".{n}." for x in projector) for n in trainable)
        for name in trainable:  # LoRA only inside the text decoder; nothing else of the audio encoder
            assert (name.startswith(layers_prefix + ".") and "lora_" in name) or any(x in f".{name}." for x in projector), name
        objective = InstructionObjective(backend).train()
        responses = [response_token_ids(backend.tokenizer, answer) for answer in ("paris", "eight legs")]
        optimizer = torch.optim.AdamW([p for p in backend.parameters() if p.requires_grad], lr=1e-3)
        before = objective(wavs(), TRANSCRIPTS, responses)[0]
        before.backward()
        optimizer.step()
        optimizer.zero_grad()
        with torch.no_grad():
            after = objective(wavs(), TRANSCRIPTS, responses)[0]
        assert after < before, (float(before), float(after))
        backend.eval()
        saved = backend.save_pretrained(tmp_path / "checkpoint")
        reloaded = make_backend(copy.deepcopy(model), processor, self.model_type)
        reloaded.load_trained(saved)
        items = lambda b: b.collate(b.build_items(TURNS, wavs(), TRANSCRIPTS))
        with torch.no_grad():
            trained_logits = backend(items(backend)).logits
            torch.testing.assert_close(reloaded(items(reloaded)).logits, trained_logits)
            base = make_backend(model, processor, self.model_type)
            assert not torch.allclose(base(items(base)).logits, trained_logits)
