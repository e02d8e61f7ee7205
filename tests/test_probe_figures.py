"""Figures render from JSON round-tripped results (nulls included) into PNG files."""

from __future__ import annotations

import json

import pytest
import torch

from lslm_eval.probe import figures
from lslm_eval.probe.cka import CrossLayerCKA
from lslm_eval.probe.stats import ProbeStatistics, alignment_case

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def from_json(result: dict) -> dict:
    return json.loads(json.dumps(result, allow_nan=False))


def test_every_figure_renders_from_json(tmp_path):
    gen = torch.Generator().manual_seed(0)
    results = {}
    for label, noise in (("step 2k", 1.5), ("step 8k", 0.3)):
        acc = ProbeStatistics()
        for t_t in (1, 3, 4):  # T_t = 1 leaves monotonicity undefined (null) for that item
            ht = torch.randn(3, t_t, 8, generator=gen)
            acc.update(ht.repeat_interleave(2, dim=1) + noise * torch.randn(3, 2 * t_t, 8, generator=gen), ht)
        results[label] = from_json(acc.result())
    ht = torch.randn(3, 4, 8, generator=gen)
    hs = ht.repeat_interleave(2, dim=1)
    cka = CrossLayerCKA("pooled", pairs="diagonal")
    cka.update_batch([(hs, ht), (hs + 1, ht * 2), (hs.flip(1), ht)])
    paths = [
        figures.plot_sequence_curves(results, tmp_path / "seq.png"),
        figures.plot_path_statistics(results, tmp_path / "paths.png"),
        figures.plot_alignment_case(from_json(alignment_case(hs, ht, layer=1, key="x")), tmp_path / "case.png"),
        figures.plot_cka(from_json(cka.result()), tmp_path / "sub" / "cka.png"),
    ]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000
    with pytest.raises(ValueError, match="no results"):
        figures.plot_sequence_curves({}, tmp_path / "empty.png")


def test_figures_on_a_file_of_another_shape_is_an_error_naming_it(tmp_path):
    from lslm_eval.cli import main

    other = tmp_path / "results_2025.json"
    other.write_text(json.dumps({"results": {"voicebench_sdqa": {}}, "sequence": {"cos": [1.0]}}))
    with pytest.raises(SystemExit, match=rf"lslm-eval figures: {other} is not a probe file .*lacks \['sequence.dist', "
                                         r"'monotonicity.cos.per_layer'.*top-level keys: \['results', 'sequence'\]"):
        main(["figures", str(other), "--output_path", str(tmp_path / "out")])
    broken = tmp_path / "probe.json"
    broken.write_text('{"sequence": ')
    with pytest.raises(SystemExit, match=rf"{broken}: cannot read a probe file"):
        main(["figures", str(broken), "--output_path", str(tmp_path / "out")])
    gen = torch.Generator().manual_seed(0)  # what the prober and `probe --case` write passes the same check
    acc = ProbeStatistics()
    ht = torch.randn(3, 4, 8, generator=gen)
    acc.update(ht.repeat_interleave(2, dim=1), ht)
    figures.check_fields(from_json(acc.result()), figures.PROBE_FIELDS, "probe", "a probe file")
    figures.check_fields(from_json(alignment_case(ht.repeat_interleave(2, dim=1), ht, layer=1, key="x")), figures.CASE_FIELDS,
                         "case", "an alignment case")
