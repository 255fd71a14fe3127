"""What submit.py, score.py and fit.py share: track options, their settings, and errors.

Nothing here knows any particular track: the flags that stand for config fields (--backbone,
--members ...) are settings.py's ``FLAGS``, and every setting is routed by name to the
track's config, the run's decision settings or its runtime (settings.py).

Errors: a ``UserError`` (data/errors.py: bad input, a bad setting, a missing extra, a refused
folder) is one line and exit status 2; anything else is a bug, said so in one line, then its
traceback, and exit status 1.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import select
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from idr_kit.data.errors import FileRefused, SettingError, UserError
from idr_kit.data.fields import defaults_of, parse_pairs, typed_text
from idr_kit.model.decision import DecisionSettings, check_threshold
from idr_kit.model.runtime import Runtime
from idr_kit.model.saved import build_config
from idr_kit.run.settings import (command_flags, parse_settings, read_recipe, recipe_path,
                                  settings_fields, settings_table, split_settings, typed_recipe)
from idr_kit.tracks import (DEFAULT_TRACK, TRACKS, TrackConfig, config_class, require_installed,
                            track_class)

CHECKPOINTS = "checkpoints"  # the default checkpoint folder, inside the output folder

@dataclasses.dataclass(frozen=True)
class TrackSettings:
    name: str
    config: TrackConfig
    decision: DecisionSettings
    runtime: Runtime


def add_track_options(parser: argparse.ArgumentParser, *, track_required: bool = False) -> None:
    parser.add_argument("--track", choices=sorted(TRACKS), required=track_required,
                        help=f"the track to train (default: the recipe's, else {DEFAULT_TRACK}, "
                             "the strongest of the base install)")
    parser.add_argument("--recipe", metavar="JSON",
                        help="settings from a recipe file, or the name of a shipped one "
                             "(recipes/); --set overrides it")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="a setting of the track, of the decision (smoothing, min_length, "
                             "threshold_rule) or of the runtime (device, threads, cache_dir ...); "
                             "repeatable")
    parser.add_argument("--seed", type=int, default=0, help="seed for folds and the track")
    parser.add_argument("--threshold", type=threshold_arg,
                        help="fixed 0/1 threshold in [0, 1] instead of the tuned one")
    flags = parser.add_argument_group("track settings with their own flags (same as --set)")
    for field, (text, default) in command_flags().items():
        option = "--" + field.replace("_", "-")
        if isinstance(default, bool):
            flags.add_argument(option, action="store_true", default=None, help=text)
        else:
            flags.add_argument(option, help=text)


def threshold_arg(text: str) -> float:
    try:
        return check_threshold(float(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def track_settings(args: argparse.Namespace) -> TrackSettings:
    """The track, its config, decision settings and runtime, from a recipe, --set and flags."""
    recipe_file = recipe_path(args.recipe) if args.recipe else None
    recipe_track, values = read_recipe(recipe_file) if recipe_file else (None, {})
    if args.track and recipe_track and args.track != recipe_track:
        raise SettingError(f"{recipe_file} is a recipe for track {recipe_track!r}, not {args.track!r}")
    name = args.track or recipe_track or DEFAULT_TRACK
    if recipe_file:
        values = typed_recipe(name, values, recipe_file)
    values.update(parse_settings(name, args.overrides))
    values.update(_flag_values(args, name))
    values.setdefault("seed", args.seed)
    kinds = split_settings(name, values)
    config = build_config(name, kinds["config"], source="the settings given")
    require_installed(name, config, training=True)  # both command lines that take it train
    defaults = track_class(name).decision_defaults
    return TrackSettings(name, config, dataclasses.replace(defaults, **kinds["decision"]),
                         Runtime(**kinds["runtime"]))


def _flag_values(args: argparse.Namespace, name: str) -> dict[str, Any]:
    fields = {f.name: f.default for f in dataclasses.fields(config_class(name))}
    out = {}
    for field, (_, default) in command_flags().items():
        given = getattr(args, field, None)
        if given is None:
            continue
        if field not in fields:
            raise SettingError(f"--{field.replace('_', '-')} does not apply to track {name!r}")
        out[field] = given if isinstance(given, bool) else typed_text(field, default, given)
    return out


def runtime_settings(args: argparse.Namespace, base: Runtime) -> Runtime:
    """``base`` updated by the --set pairs, all runtime settings (predicting with a saved model
    takes no track settings)."""
    try:
        return dataclasses.replace(base, **parse_pairs(args.overrides, defaults_of(base)))
    except SettingError as err:
        raise SettingError(f"{err} (with --model only runtime settings apply)") from None


def with_checkpoints(runtime: Runtime, out: Path) -> Runtime:
    """``runtime`` checkpointing into OUT/checkpoints unless it names a folder of its own."""
    if runtime.checkpoint_dir:
        return runtime
    return dataclasses.replace(runtime, checkpoint_dir=str(out / CHECKPOINTS))


def output_arg(text: str) -> Path:
    """An output file's path as given; one that ends in a slash names a folder, not a file
    (``Path`` would drop the slash unseen)."""
    if text.endswith(("/", "/.", "/..")) or text in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"{text!r} names a folder; name a file to write")
    return Path(text)


def settings_help(track: str | None = None) -> str:
    """For --help: with a track, its settings, the decision's and the runtime's, each with its
    default, range and meaning; without one, every --set key by kind, and how to see more."""
    if track in TRACKS:
        return settings_table(track)
    kinds: dict[str, set[str]] = {}
    for name in TRACKS:
        for key, (kind, _) in settings_fields(name).items():
            kinds.setdefault(kind if kind != "config" else f"track {name}", set()).add(key)
    listed = "\n".join(f"  {kind}: {', '.join(sorted(keys))}"
                       for kind, keys in sorted(kinds.items()))
    return (f"{listed}\n  (--track NAME --help lists NAME's settings with their defaults, "
            "ranges and meanings)")


def track_in(argv: list[str]) -> str | None:
    """The --track (or the recipe's track) an argument list names, for a --help that shows
    that track's settings; None when it names none (or names it badly: the parser says so)."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--track")
    peek.add_argument("--recipe")
    known, _ = peek.parse_known_args(argv)
    if known.track or not known.recipe:
        return known.track
    try:
        return read_recipe(recipe_path(known.recipe))[0]
    except UserError:
        return None


def command_parser(command: str, description: str, **options) -> argparse.ArgumentParser:
    """The parser of a console command, named as the user called it (``idr-submit``, or
    ``submit.py`` run from the checkout: ``called_as``), with --version and --debug."""
    from idr_kit import __version__
    parser = argparse.ArgumentParser(prog=called_as(command), description=description,
                                     **options)
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s (idr-kit {__version__})")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return parser


def called_as(command: str) -> str:
    """``command`` (idr-submit), or the script's name when the user ran the checkout's script
    (python submit.py): usage lines and errors name what the user typed."""
    script = command.removeprefix("idr-") + ".py"
    name = Path(sys.argv[0]).name
    return name if name in (command, script) else command


def guarded(prog: str, debug: bool, work: Callable[[], object]) -> int:
    """Run ``work``: a ``UserError`` becomes one line on stderr and exit status 2 (``--debug``
    adds its traceback); Ctrl-C (or SIGTERM) exit status 130; a reader of stdout that has gone
    (``idr-predict big.fasta | head``) ends the command quietly, as Unix tools end, with
    status 141 (128 + SIGPIPE, what a shell reports for them); anything else is a bug: one
    line saying so, its traceback, exit status 1."""
    hold_standard_fds()
    try:
        work()
        if sys.stdout is not None:
            sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except UserError as err:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError as err:
        if not stdout_gone():
            return internal_error(prog, err)
        # Python's advice: point stdout at devnull so the flush at exit fails no more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except Exception as err:  # noqa: BLE001 - the kit's own failure, shown as such
        return internal_error(prog, err)
    return 0


BROKEN_PIPE = 128 + signal.SIGPIPE  # 141: the status of a tool that SIGPIPE ended


def internal_error(prog: str, err: BaseException) -> int:
    print(f"{prog}: internal error (a bug in idr-kit; please report it with the traceback "
          f"below): {type(err).__name__}: {str(err)[:300]}", file=sys.stderr)
    traceback.print_exception(err)
    return 1


def hold_standard_fds() -> None:
    """Point a closed stdout or stderr (``>&-``) at devnull: else the next file opened (an
    output's temporary file) would take its number, and whatever writes there (a library's
    message, a worker process) would write into that file."""
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            held = os.open(os.devnull, os.O_WRONLY)
            if held != fd:
                os.dup2(held, fd)
                os.close(held)


def stdout_gone() -> bool:
    """Whether stdout is a pipe (or socket) that its reader closed."""
    if sys.stdout is None:
        return False
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False


def stdout_or_refused():
    """``sys.stdout``, or FileRefused when the command was started with none (``>&-``)."""
    if sys.stdout is None:
        raise FileRefused("standard output is closed (>&-): there is nowhere to write the "
                          "table; give -o FILE, or run with stdout open")
    return sys.stdout
