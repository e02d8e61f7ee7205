"""What an intervention does (SPEC §6), parsed from lm-eval model args, and the paper's grid of settings.

    intervene   angle | length | calibrate | calibrate_mean
    targets     bottomK (e.g. bottom3, paper 1) | all        (angle and length only)
    layer       0 = the LLM input embeddings (adaptor output), l >= 1 = output of decoder layer l
    stats       calibration statistics file (calibrate, calibrate_mean), from `lslm-eval calibrate`
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .edits import ALL, ANGLE, BOTTOM_K, DEFAULT_K, LENGTH, TOKEN_EDITS, CalibrationStats

CALIBRATE = "calibrate"
CALIBRATE_MEAN = "calibrate_mean"
CALIBRATIONS = (CALIBRATE, CALIBRATE_MEAN)
EDITS = TOKEN_EDITS + CALIBRATIONS
_BOTTOM = re.compile(r"bottom-?(\d+)")


def parse_targets(text: str) -> tuple[str, int]:
    """"bottom3" / "bottom-3" -> ("bottom-k", 3); "all" -> ("all", 0)."""
    text = str(text).strip().lower()
    if text == ALL:
        return ALL, 0
    match = _BOTTOM.fullmatch(text)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"targets must be bottomK with K >= 1 (e.g. bottom3) or all, got {text!r}")
    return BOTTOM_K, int(match.group(1))


@dataclass(frozen=True)
class Intervention:
    """One intervention setting. `stats` is required by (and only by) the calibration edits."""

    edit: str
    selection: str = BOTTOM_K
    k: int = DEFAULT_K
    layer: int = 0
    stats: CalibrationStats | None = None
    stats_file: str | None = None  # where `stats` came from, for the record

    def __post_init__(self):
        if self.edit not in EDITS:
            raise ValueError(f"intervene must be one of {', '.join(EDITS)}; got {self.edit!r}")
        if self.layer < 0:
            raise ValueError(f"layer must be 0 (input embeddings) or a decoder layer >= 1, got {self.layer}")
        if self.is_calibration:
            if self.stats is None:
                raise ValueError(f"intervene={self.edit} needs stats=FILE (make one with `lslm-eval calibrate`)")
            if self.stats.layer != self.layer:
                raise ValueError(f"the calibration statistics were estimated at layer {self.stats.layer}, "
                                 f"but the intervention is at layer {self.layer}; estimate them at layer {self.layer}")
        elif self.stats is not None:
            raise ValueError(f"stats=FILE is for intervene=calibrate or calibrate_mean, not {self.edit}")

    @classmethod
    def from_args(cls, intervene: str, targets: str | None = None, layer: int | str | None = None,
                  stats: str | None = None) -> Intervention:
        """From lm-eval model args (strings). Token edits default to bottom3 at layer 0;
        calibration defaults to the layer its statistics were estimated at."""
        edit = str(intervene).strip().lower()
        calibration = CalibrationStats.load(stats) if stats else None
        if edit in CALIBRATIONS and targets is not None:
            raise ValueError(f"targets={targets} does not apply to intervene={edit}: calibration maps the whole speech span")
        selection, k = parse_targets(targets) if targets is not None else (BOTTOM_K, DEFAULT_K)
        if layer is None:
            layer = calibration.layer if calibration is not None else 0
        return cls(edit, selection, k, int(layer), calibration, str(stats) if stats else None)

    @property
    def is_calibration(self) -> bool:
        return self.edit in CALIBRATIONS

    @property
    def needs_text(self) -> bool:
        """Angle and length need the paired text pass at the intervention layer."""
        return not self.is_calibration

    @property
    def targets(self) -> str | None:
        if self.is_calibration:
            return None
        return ALL if self.selection == ALL else f"bottom{self.k}"

    @property
    def name(self) -> str:
        """Human label, as in paper 1's table 1: "Angle Bottom3", "Length All", "Calibrate (mean)"."""
        if self.is_calibration:
            base = "Calibrate (mean)" if self.edit == CALIBRATE_MEAN else "Calibrate"
        else:
            base = f"{self.edit.capitalize()} {'All' if self.selection == ALL else f'Bottom{self.k}'}"
        return base if self.layer == 0 else f"{base} @ layer {self.layer}"

    @property
    def slug(self) -> str:
        """File-system name: angle_bottom3_L0, calibrate_mean_L0."""
        parts = [self.edit] + ([self.targets] if self.targets else []) + [f"L{self.layer}"]
        return "_".join(parts)

    def model_args(self) -> str:
        """The lm-eval model args that select this setting: "intervene=angle,targets=bottom3,layer=0"."""
        args = {"intervene": self.edit, "targets": self.targets, "layer": self.layer, "stats": self.stats_file}
        return ",".join(f"{key}={value}" for key, value in args.items() if value is not None)

    def record(self) -> dict:
        """JSON-ready description (for results files)."""
        return {"intervene": self.edit, "targets": self.targets, "layer": self.layer, "stats": self.stats_file}


def paper_grid(layer: int = 0, stats_file: str | None = None) -> list[Intervention | None]:
    """Paper 1 table 1: Original (None), Angle Bottom3, Angle All, Length Bottom3, Length All;
    with calibration statistics also Calibrate and Calibrate (mean) (paper 2)."""
    grid: list[Intervention | None] = [None]
    for edit in (ANGLE, LENGTH):
        for targets in (f"bottom{DEFAULT_K}", ALL):
            grid.append(Intervention.from_args(edit, targets, layer))
    if stats_file is not None:
        for edit in CALIBRATIONS:
            grid.append(Intervention.from_args(edit, None, layer, stats_file))
    return grid
