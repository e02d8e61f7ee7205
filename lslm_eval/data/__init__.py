"""Evaluation data: VoiceBench (`voicebench`) and SpeechMMLU (`speechmmlu`) from the hub, a local copy or the
shipped sample (`sample/`), chosen by one switch per benchmark (`sources`). Importing this package loads nothing."""
