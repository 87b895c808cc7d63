"""The command line: one clip, a clip again from its card, many clips from a file of cards.

    python cli.py [--tiny-models] generate MODE --prompt "a cat" [--NAME VALUE ...] [--out clip.mp4]
    python cli.py [--tiny-models] reproduce CARD.json|VIDEO.mp4 [--out clip.mp4]
    python cli.py [--tiny-models] batch JOBS.jsonl --out DIR [--ray [ADDRESS]] [--workers N]
    python cli.py schema                      # the generation card's JSON Schema

Parameters take the Python API's names (`--video_length 16` or `--video-length 16`); values are read as JSON where
they parse (numbers, true/false, lists), else as text. `python cli.py generate MODE --help` lists a mode's
parameters with their defaults. Exit codes: 0 done, 1 a batch had failed jobs, 2 bad input (the message names it),
3 a model could not be loaded, 4 out of memory or the output could not be written, 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from cards import MODES, Card, CardError

EXIT_FAILED_JOBS, EXIT_INPUT, EXIT_MODEL, EXIT_RESOURCES, EXIT_INTERRUPTED = 1, 2, 3, 4, 130


def mode_calls() -> dict:
    from modes import CannyCall, GuidedCall, ModelScopeCall, Pix2PixCall, PoseCall, Text2VideoCall, UpscaleCall

    return {
        "text2video": Text2VideoCall,
        "pose": PoseCall,
        "canny": CannyCall,
        "depth": GuidedCall,
        "pix2pix": Pix2PixCall,
        "modelscope": ModelScopeCall,
        "modelscope_upscale": UpscaleCall,
    }


def mode_help(mode: str) -> str:
    call = mode_calls()[mode]
    rows = [f"  --{f.name} (default {f.default!r})" for f in dataclasses.fields(call) if f.name != "notes"]
    return f"{mode}: {(call.__doc__ or '').strip()}\n\nparameters:\n" + "\n".join(rows)


def parse_parameters(pairs: list[str]) -> dict:
    """`--name value` pairs (names with - or _) -> {name: value}, values as JSON where they parse."""
    parameters, index = {}, 0
    while index < len(pairs):
        flag = pairs[index]
        if not flag.startswith("--") or index + 1 >= len(pairs):
            raise CardError(f"Parameters come as --name value pairs; '{flag}' has no value.")
        name, text = flag[2:].replace("-", "_"), pairs[index + 1]
        try:
            parameters[name] = json.loads(text)
        except json.JSONDecodeError:
            parameters[name] = text
        index += 2
    return parameters


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="t2vz", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny-models", action="store_true", help="the small offline models (seconds on a CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate",
        help="one clip",
        description="Make one clip. MODE: " + ", ".join(MODES) + ". Run `generate MODE --help` for its parameters.",
    )
    generate.add_argument("mode", choices=list(MODES))
    generate.add_argument("--out", default=None, help="the file to write (default: a new file in T2VZ_OUTPUT_DIR)")
    reproduce = commands.add_parser("reproduce", help="a clip again from its card (or a video carrying one)")
    reproduce.add_argument("card")
    reproduce.add_argument("--out", default=None, help="the file to write (default: a new file in T2VZ_OUTPUT_DIR)")
    batch = commands.add_parser(
        "batch",
        help="many clips from a JSON-lines file of (partial) cards",
        description="Each line a card ({'mode': ..., 'parameters': {...}}; left-out parameters take their "
        "defaults). Resumable: a job whose clip and card exist is skipped. Failures are recorded in "
        "DIR/results.jsonl and the batch goes on.",
    )
    batch.add_argument("jobs", type=Path)
    batch.add_argument("--out", type=Path, required=True, help="the folder of the clips, their cards and results")
    batch.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run on Ray: a cluster on this machine (no address), or a cluster's address (pip install -r "
        "requirements-ray.txt)",
    )
    batch.add_argument("--workers", type=int, default=None, help="Ray workers (default: one per GPU, else per CPU)")
    commands.add_parser("schema", help="print the generation card's JSON Schema")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if len(argv) >= 2 and "generate" in argv and ("--help" in argv or "-h" in argv):
        mode = next((a for a in argv[argv.index("generate") + 1 :] if a in MODES), None)
        if mode:
            print(mode_help(mode))
            return 0
    args, rest = parser.parse_known_args(argv)
    if args.command == "schema":
        print(json.dumps(Card.model_json_schema(), indent=2))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return run(args, rest)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the Model's errors, each with its exit code
        code, message = exit_code(error)
        print(f"Error: {message}", file=sys.stderr)
        return code


def exit_code(error: Exception) -> tuple[int, str]:
    from model import ModelLoadError, OutOfMemory
    from utils.validation import InputError
    from utils.video import OutputError

    if isinstance(error, InputError):
        return EXIT_INPUT, str(error)
    if isinstance(error, ModelLoadError):
        return EXIT_MODEL, str(error)
    if isinstance(error, (OutOfMemory, OutputError)):
        return EXIT_RESOURCES, str(error)
    raise error


def make_settings(args):
    """The settings of the environment, with the --tiny-models flag."""
    from settings import Settings

    settings = Settings.from_env()
    if args.tiny_models:
        settings = settings.with_tiny_models()
    return settings


def make_model(args):
    from model import Model

    if args.quiet:
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()
    return Model(settings=make_settings(args))


def run(args, rest: list[str]) -> int:
    if args.command == "generate":
        parameters = parse_parameters(rest)
        model = make_model(args)
        result = getattr(model, MODES[args.mode])(**parameters, path=args.out)
        report(result)
        return 0
    if rest:
        raise CardError(f"Unexpected arguments: {' '.join(rest)}.")
    if args.command == "reproduce":
        card = Card.read(args.card)
        result = make_model(args).run_card(card, path=args.out)
        report(result)
        return 0
    from batch import run_batch, run_batch_on_ray

    if args.ray:
        summary = run_batch_on_ray(args.jobs, args.out, make_settings(args), args.ray, args.workers)
    else:
        summary = run_batch(args.jobs, args.out, make_model(args))
    results = args.out / "results.jsonl"
    print(f"{summary.done} made, {summary.skipped} already there, {summary.failed} failed: {results}")
    return EXIT_FAILED_JOBS if summary.failed else 0


def report(result) -> None:
    for note in result.notes:
        print(f"Note: {note}", file=sys.stderr)
    print(f"{result.path} (seed {result.seed})")


if __name__ == "__main__":
    sys.exit(main())
