"""The ``sonogram`` command. Each sub-command is a small function; user errors print one line and exit 2."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

from sonogram import __version__

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str, add_args: Callable[[argparse.ArgumentParser], None]):
    """Register ``fn(args) -> exit code`` as a sub-command whose options ``add_args(parser)`` declares."""

    def register(fn):
        COMMANDS[name] = (help, add_args, fn)
        return fn

    return register


def _data_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", help="folder holding the datasets (default: $SONOGRAM_DATA, else ~/.cache/sonogram/data)")


def _datasets_args(p: argparse.ArgumentParser) -> None:
    from sonogram.datasets import LOADERS

    p.add_argument("name", nargs="?", choices=sorted(LOADERS), help="show one dataset in detail: classes, speakers, splits")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="loader option for NAME, e.g. task=12 or version=v0.01 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    _data_root(p)
    p.add_argument("--json", action="store_true", help="print JSON")


# Datasets `sonogram datasets` looks for, with the options that select each variant.
LISTED = [
    ("fsdd", {}),
    ("speech_commands_test", {}),
    ("speech_commands", {"version": "v0.01", "task": "words"}),
    ("speech_commands", {"version": "v0.02", "task": "words"}),
    ("audiomnist", {}),
]


@command("datasets", "list the datasets found under the data root with clip, class and speaker counts", _datasets_args)
def cmd_datasets(args: argparse.Namespace) -> int:
    from sonogram.datasets import DatasetError, load_dataset, resolve_data_root

    root = resolve_data_root(args.data_root)
    if args.name:
        return _show_dataset(args, root)
    rows = []
    for name, options in LISTED:
        try:
            summary = load_dataset(name, root, **options).summary()
            summary.pop("per_class")
            rows.append(summary)
        except DatasetError as exc:
            rows.append({"name": name + "".join(f" {v}" for v in options.values()), "missing": str(exc)})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"data root: {root}")
    print(f"{'dataset':<28}{'clips':>8}{'classes':>9}{'speakers':>10}{'rate':>8}  splits")
    for row in rows:
        if "missing" in row:
            print(f"{row['name']:<28}  not found")
        else:
            print(f"{row['name']:<28}{row['clips']:>8}{row['classes']:>9}{row['speakers']:>10}"
                  f"{row['sample_rate']:>8}  {', '.join(row['splits'])}")
    return 0


def _parse_options(pairs: list[str]) -> dict[str, object]:
    from sonogram.errors import ConfigError

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"option {pair!r} is not KEY=VALUE")
        options[key] = int(value) if value.isdigit() else value
    return options


def _show_dataset(args: argparse.Namespace, root) -> int:
    from sonogram.datasets import load_dataset, speaker_overlap

    corpus = load_dataset(args.name, root, **_parse_options(args.option))
    summary = corpus.summary()
    summary["splits"] = {}
    for protocol in sorted(corpus.protocols):
        summary["splits"][protocol] = [
            {"name": split.name, **{part: len(idx) for part, idx in split.parts().items()},
             "shared_speakers": len(speaker_overlap(corpus, split))}
            for split in corpus.splits(protocol, args.seed)
        ]
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['name']}: {summary['clips']} clips, {summary['classes']} classes, "
          f"{summary['speakers']} speakers, {summary['sample_rate']} Hz")
    print("clips per class: " + ", ".join(f"{label}={n}" for label, n in summary["per_class"].items()))
    for protocol, folds in summary["splits"].items():
        disjoint = "speaker-disjoint" if protocol in corpus.speaker_disjoint else "speakers shared by design"
        print(f"split {protocol!r} ({len(folds)} fold{'s' * (len(folds) > 1)}, {disjoint}):")
        for fold in folds:
            print(f"  {fold['name']:<22} train {fold['train']:>6}  val {fold['val']:>6}  test {fold['test']:>6}"
                  f"  speakers in two parts: {fold['shared_speakers']}")
    return 0


def _download_args(p: argparse.ArgumentParser) -> None:
    from sonogram.datasets import SOURCES

    p.add_argument("source", choices=sorted(SOURCES), help="which public dataset to fetch")
    _data_root(p)


@command("download", "download and unpack a public dataset into the data root (checksum-verified)", _download_args)
def cmd_download(args: argparse.Namespace) -> int:
    from sonogram.datasets import download

    print(download(args.source, args.data_root))
    return 0


def _design_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["show"], help="show: print the layer table of a design")
    p.add_argument("file", help="design YAML (or a recipe, whose design section is used)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a design key, e.g. model.hidden=[64,64] or frontend.0.n_mels=64 (repeatable)")
    p.add_argument("--budget", type=int, help="scale --scale KEY so the model has about this many parameters")
    p.add_argument("--scale", metavar="KEY", help="integer (or list) model argument that --budget scales, e.g. hidden")
    p.add_argument("--json", action="store_true", help="print the rows and totals as JSON")


@command("design", "show a network design: layers, output shapes and parameter counts", _design_args)
def cmd_design(args: argparse.Namespace) -> int:
    from sonogram.config import to_dict
    from sonogram.design import build_network, count_params, load_design, match_budget, summary, summary_rows
    from sonogram.errors import ConfigError

    design = load_design(args.file, args.overrides)
    if (args.budget is None) != (args.scale is None):
        raise ConfigError("--budget and --scale go together")
    if args.budget is not None:
        design, _ = match_budget(design, args.budget, args.scale)
    network = build_network(design)
    if args.json:
        print(json.dumps({"design": to_dict(design), "layers": summary_rows(network),
                          "params": count_params(network), "trainable": count_params(network, True)}))
        return 0
    if args.budget is not None:
        print(f"model.{args.scale} = {design.model[args.scale]} for a budget of {args.budget:,} parameters")
    print(summary(network))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sonogram", description="Classify spoken words from audio.")
    parser.add_argument("--version", action="version", version=f"sonogram {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    from sonogram.errors import USER_ERRORS

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command][2](args)
    except USER_ERRORS as exc:
        print(f"sonogram {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sonogram {args.command}: interrupted", file=sys.stderr)
        return 130
