"""Paired speech/text items read from lm-eval tasks, for the verbs that run no generation.

`load_tasks` loads lm-eval tasks by name, optionally rebuilt to read another split of their data;
`load_paired_items` turns a speech task's docs into `PairedItem`s (the audio with its transcript
and the prompt text). A task that cannot give what is asked raises `TaskDataError` naming it.
"""

from __future__ import annotations

import json


class TaskDataError(ValueError):
    """A task that lacks what a verb needs (paired audio and transcript, the asked split)."""


def load_tasks(names: str, metadata: str | dict | None = None, split: str | None = None) -> dict:
    """lm-eval tasks by comma-separated name; `split` makes each read that split of its data instead."""
    from dataclasses import fields as config_fields

    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks import TaskManager

    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    tasks = TaskManager(metadata=metadata or None).load(names.split(","))["tasks"]
    if split is None:
        return tasks
    moved = {}
    for name, task in tasks.items():
        config = {f.name: getattr(task.config, f.name) for f in config_fields(task.config)}
        kwargs = dict(config.get("dataset_kwargs") or {})
        if "split" in kwargs:  # a custom dataset that loads one split (VoiceBench)
            kwargs["split"] = split
        moved[name] = ConfigurableTask(config={**config, "test_split": split, "dataset_kwargs": kwargs})
        if not moved[name].has_test_docs() or split not in moved[name].dataset:
            raise TaskDataError(f"task {name} has no split {split!r}")
    return moved


def load_paired_items(task, limit: float | None = None) -> list:
    """PairedItems from an lm-eval task whose docs carry audio with a transcript (a speech task)."""
    import itertools

    from lm_eval.evaluator_utils import get_sample_size

    from lslm_eval.audio import AudioError, load_audio
    from lslm_eval.probe.runner import PairedItem

    limit = get_sample_size(task, limit)  # lm-eval's --limit: a count, or below 1 a fraction of the docs
    items = []
    for doc_id, doc in enumerate(itertools.islice(task.eval_docs, limit)):
        audios = task.doc_to_audio(doc) if task.config.doc_to_audio else None
        if not audios or not isinstance(audios[0], dict) or not audios[0].get("transcript"):
            raise TaskDataError(f"task {task.config.task!r} is not a paired speech task: its docs carry no audio with a transcript")
        audio = audios[0]
        try:
            wav = load_audio(audio)
        except AudioError as err:
            raise AudioError(f"task {task.config.task}, doc {doc_id}, item {audio.get('id') or '?'}: {err}") from err
        items.append(PairedItem(str(audio.get("id") or doc_id), wav, audio["transcript"], task.doc_to_text(doc)))
    return items
