"""The command line: one clip, a clip again from its card, many clips from a file of cards.

    python cli.py [--tiny-models] generate MODE --prompt "a cat" [--NAME VALUE ...] [--out clip.mp4]
    python cli.py [--tiny-models] reproduce CARD.json|VIDEO.mp4 [--out clip.mp4]
    python cli.py [--tiny-models] batch JOBS.jsonl --out DIR [--ray [ADDRESS]] [--workers N]
    python cli.py schema                      # the generation card's JSON Schema

Parameters take the Python API's names (`--video_length 16` or `--video-length 16`); values are read as JSON where
they parse (numbers, true/false, lists), else as text. `python cli.py generate MODE --help` lists a mode's
parameters with their defaults. `--out` names a file (an existing one is replaced only with --overwrite) or a
folder (a new file in it). A card names its input files by content: `reproduce` finds them beside the card, or in
the folders given with --inputs.

Exit codes: 0 done, 1 a batch had failed jobs (each recorded with its message), 2 bad input (the message names
it), 3 a model could not be loaded, 4 out of memory or the output could not be written, 70 an internal error (a
bug: the message and a traceback say where), 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from cards import Card
from errors import CardError
from registry import MODES
from utils.validation import shorten

EXIT_FAILED_JOBS, EXIT_INPUT, EXIT_MODEL, EXIT_RESOURCES, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 4, 70, 130
# Names the command line gives itself: a parameter of that name would collide with them.
OWN_OPTIONS = {"path": "--out", "save_path": "--out", "out": "--out"}


def mode_help(name: str) -> str:
    """A mode's help: what it makes and each parameter with its default (`registry.MODES`)."""
    mode = MODES[name]
    renamed = dict((theirs, own) for own, theirs in mode.renames)
    rows = [
        f"  --{renamed.get(f.name, f.name)} (default {f.default!r})"
        for f in dataclasses.fields(mode.call)
        if f.name != "notes"
    ]
    text = f"{name}: {mode.summary}\n{(mode.call.__doc__ or '').strip()}"
    return f"{text}\n\nparameters:\n" + "\n".join(rows)


def parse_parameters(pairs: list[str], mode: str) -> dict:
    """`--name value` pairs (names with - or _) -> {name: value}, values as JSON where they parse; each name must
    be one of the mode's parameters (`generate MODE --help` lists them)."""
    from cards import mode_parameters

    known = mode_parameters(mode)
    parameters, index = {}, 0
    while index < len(pairs):
        flag = pairs[index]
        if not flag.startswith("--") or index + 1 >= len(pairs):
            raise CardError(f"Parameters come as --name value pairs; '{shorten(flag)}' has no value.")
        name, text = flag[2:].replace("-", "_"), pairs[index + 1]
        if name in OWN_OPTIONS:
            raise CardError(f"--{name}: where the clip goes is given with {OWN_OPTIONS[name]} FILE or FOLDER.")
        if name not in known:
            raise CardError(
                f"Unknown parameter --{shorten(name)} for {mode}: run `generate {mode} --help` for its parameters."
            )
        try:
            parameters[name] = json.loads(text)
        except (json.JSONDecodeError, RecursionError, ValueError):
            parameters[name] = text
        index += 2
    return parameters


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python cli.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny-models", action="store_true", help="the small offline models (seconds on a CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate",
        help="one clip",
        description="Make one clip. MODE: " + ", ".join(MODES.names) + ". Run `generate MODE --help` for its "
        "parameters.",
    )
    generate.add_argument("mode", choices=MODES.names)
    add_output_options(generate)
    reproduce = commands.add_parser("reproduce", help="a clip again from its card (or a video carrying one)")
    reproduce.add_argument("card")
    add_output_options(reproduce)
    reproduce.add_argument(
        "--inputs",
        action="append",
        default=None,
        metavar="FOLDER",
        help="a folder holding the input files the card names, when they are not beside it (may be repeated)",
    )
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
        mode = next((a for a in argv[argv.index("generate") + 1 :] if a in MODES.names), None)
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
        if code == EXIT_INTERNAL:
            logging.exception("Internal error")  # the traceback, for a bug report
        print(f"Error: {message}", file=sys.stderr)
        return code


def exit_code(error: Exception) -> tuple[int, str]:
    """The exit code and message of an error: each of the project's errors has its code (`errors`); anything
    else is a bug."""
    from errors import StudioError

    if isinstance(error, StudioError):
        return error.exit_code, str(error)
    return EXIT_INTERNAL, f"internal error ({type(error).__name__}: {shorten(str(error))}); please report it."


def add_output_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--out",
        default=None,
        help="the file to write, or a folder for a new file in it (default: a new file in T2VZ_OUTPUT_DIR)",
    )
    command.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")


def output_file(out: str | None, overwrite: bool, output_format) -> str | None:
    """Where a clip goes: None (a new file in T2VZ_OUTPUT_DIR), a new file inside the folder `out`, or the file
    `out`, which is replaced only with `overwrite`."""
    from utils.video import VIDEO_FORMATS, new_output_path

    if out is None:
        return None
    path = Path(out).expanduser()
    if path.is_dir():
        suffix = output_format if output_format in VIDEO_FORMATS else "mp4"
        return str(new_output_path(path, f".{suffix}"))
    if path.exists() and not overwrite:
        raise CardError(f"--out '{path}' exists: add --overwrite to replace it, or name another file.")
    return str(path)


def output_folder(out: Path) -> Path:
    """A batch's folder, made if need be; a file there, or a place that cannot be written, is an input error."""
    if out.exists() and not out.is_dir():
        raise CardError(f"--out '{out}' is a file: a batch writes into a folder; name one.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".t2vz-write-probe"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise CardError(f"Cannot write to --out '{out}' ({error.strerror or error}): choose another folder.") from None
    return out


def make_settings(args):
    """The settings of the environment, with the --tiny-models and --quiet flags."""
    from settings import Settings

    settings = Settings.from_env()
    if args.tiny_models:
        settings = settings.with_tiny_models()
    if getattr(args, "quiet", False):
        settings = dataclasses.replace(settings, progress_bars=False)
    return settings


def make_model(args):
    from model import Model

    if args.quiet:
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        diffusers_logging.disable_progress_bar()  # the downloads' and loaders' bars (the rest: `progress_bars`)
        transformers_logging.disable_progress_bar()
    return Model(settings=make_settings(args))


def run(args, rest: list[str]) -> int:
    if args.command == "generate":
        parameters = parse_parameters(rest, args.mode)
        path = output_file(args.out, args.overwrite, parameters.get("output_format"))
        result = getattr(make_model(args), MODES[args.mode].method)(**parameters, path=path)
        report(result)
        return 0
    if rest:
        raise CardError(f"Unexpected arguments: {shorten(' '.join(rest))}.")
    if args.command == "reproduce":
        card = Card.read(args.card)
        path = output_file(args.out, args.overwrite, card.parameters.get("output_format"))
        result = make_model(args).run_card(args.card, path=path, inputs=args.inputs)  # inputs beside it, or there
        report(result)
        return 0
    from batch import jobs_file, run_batch, run_batch_on_ray

    jobs_file(args.jobs)
    output_folder(args.out)
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
