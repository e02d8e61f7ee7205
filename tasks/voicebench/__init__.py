"""VoiceBench tasks for lm-eval: the YAML files here, their glue (`utils`) and IFEval's item score."""
