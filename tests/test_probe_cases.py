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
