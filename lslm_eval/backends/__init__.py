"""Model backends: every speech LM family behind one interface (`base.SpeechLM`)."""
