"""VoiceBench and SpeechMMLU scoring rules as pure functions of (response, item).

One module per rule; none imports lm-eval except `ifeval`, which reuses lm-eval's IFEval checkers.
Import the module you need (`from lslm_eval.scoring.mcq import mcq_correct`): this package imports
nothing on its own.

    harm        AdvBench refusal rate
    mcq         OpenBookQA / MMSU letter extraction and accuracy
    bbh         BBH per-task answer extraction and accuracy
    ifeval      IFEval prompt/instruction x strict/loose through lm-eval's checkers
    punkt_tab   nltk's English punkt_tab data, built offline for the IFEval checkers
    judge       OpenAI-compatible LLM judge: open-ended 1-5 scores, sd-qa yes/no votes
    speechmmlu  SpeechMMLU `option x` extraction
    fallback    the seeded stand-in for VoiceBench's unseeded random guesses
    pedant      sd-qa PEDANT (qa-metrics 0.2.17)
"""
