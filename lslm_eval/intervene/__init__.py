"""Interventions on the speech span at one layer (SPEC §6): token-level edits and statistical calibration."""
