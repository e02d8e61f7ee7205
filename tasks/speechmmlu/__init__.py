"""SpeechMMLU tasks for lm-eval: the YAML files here and their glue (`utils`)."""
