import json

import pytest
import torch

from lslm_eval.cli import main
from lslm_eval.probe.cases import find_cases, save_case
from lslm_eval.probe.runner import PairedItem, Prober, paired_states

TRANSCRIPTS = ["what is the capital of france", "how many legs does a spider have", "answer with one word"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def probe_folder(folder, model, wavs, keep_cases=()):
    prober = Prober(folder, {"checkpoint": str(folder)})
    items = [PairedItem(f"sd-qa/usa/{i}", wav, text) for i, (wav, text) in enumerate(zip(wavs, TRANSCRIPTS))]
    for key, hs, ht in paired_states(model, items):
        prober.add(hs, ht, key)
        if key in keep_cases:
            save_case(folder, hs, ht, key, 1)
            save_case(folder, hs, ht, key)  # the last layer
    return prober.write()


def test_case_files_round_trip_by_key(tmp_path):
    hs, ht = torch.randn(3, 5, 4), torch.randn(3, 2, 4)
    last = save_case(tmp_path, hs, ht, "voicebench/sd-qa/usa/1a2b")
    first = save_case(tmp_path, hs, ht, "voicebench/sd-qa/usa/1a2b", 0)
    save_case(tmp_path, hs, ht, "voicebench/sd-qa/usa/ffff", 0)
    assert find_cases(tmp_path, "voicebench/sd-qa/usa/1a2b") == [first, last]
    case = json.loads(last.read_text())
    assert case["layer"] == 2 and len(case["cos"]) == 5 and len(case["cos"][0]) == 2 and len(case["path_cos"]) == 2
    assert find_cases(tmp_path, "missing") == []


def test_figures_cli_draws_every_figure_from_probe_files(tmp_path, tiny_lslm, noise_wavs, capsys):
    early = probe_folder(tmp_path / "step-100", tiny_lslm, noise_wavs, keep_cases=("sd-qa/usa/1",))
    late = probe_folder(tmp_path / "step-200", tiny_lslm, noise_wavs[::-1])
    out = tmp_path / "figures"
    assert main(["figures", str(early), str(late), "--output_path", str(out), "--item", "sd-qa/usa/1"]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["alignment_sd-qa_usa_1_L1.png", "alignment_sd-qa_usa_1_L2.png", "cka_aligned_step-100.png",
                     "cka_aligned_step-200.png", "cka_pooled_step-100.png", "cka_pooled_step-200.png",
                     "path_statistics.png", "sequence_curves.png"]
    assert all((out / name).read_bytes().startswith(PNG_MAGIC) for name in names)
    assert len(capsys.readouterr().out.splitlines()) == len(names)
    with pytest.raises(SystemExit, match="probe ... --case"):
        main(["figures", str(late), "--output_path", str(out), "--item", "sd-qa/usa/0"])
    with pytest.raises(SystemExit, match="labels"):
        main(["figures", str(early), str(late), "--labels", "one", "--output_path", str(out)])


def test_alignment_figures_label_tokens_by_text_and_name_the_checkpoint(tmp_path, tiny_tokenizer, monkeypatch):
    from pathlib import Path

    from lslm_eval.probe import figures
    from lslm_eval.probe.cases import query_tokens

    tokens = query_tokens(tiny_tokenizer, "what is the capital of france")
    assert "".join(tokens) == "what is the capital of france" and len(tokens) > 1
    hs, ht = torch.randn(3, 5, 4), torch.randn(3, len(tokens), 4)
    path = save_case(tmp_path, hs, ht, "sd-qa/usa/7", tokens=tokens, checkpoint="runs/a/checkpoint-300")
    case = json.loads(path.read_text())
    assert case["tokens"] == tokens and case["checkpoint"] == "runs/a/checkpoint-300"
    assert "tokens" not in json.loads(save_case(tmp_path, hs, ht, "other", tokens=tokens[:-1]).read_text())  # not T_t: dropped

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, out: drawn.append(fig) or Path(out))
    figures.plot_alignment_case(case, tmp_path / "a.png")
    figures.plot_cka({"matrix": [[1.0, 0.5], [0.5, 1.0]], "view": "pooled", "n_rows": 3}, tmp_path / "c.png", label="checkpoint-300")
    alignment, cka = drawn
    assert [label.get_text() for label in alignment.axes[0].get_xticklabels()] == [t.strip() for t in tokens]
    assert alignment._suptitle.get_text().startswith("checkpoint-300: item sd-qa/usa/7")
    assert cka.axes[0].get_title().startswith("checkpoint-300: CKA, pooled view")
