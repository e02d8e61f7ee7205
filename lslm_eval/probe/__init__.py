"""Probing: alignment paths, streaming similarity statistics, cross-layer CKA, figures (SPEC §3-§5)."""
