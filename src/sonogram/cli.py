"""The ``sonogram`` command. Each sub-command is a small function; user errors print one line and exit 2."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from sonogram import __version__

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str, add_args: Callable[[argparse.ArgumentParser], None]):
    """Register ``fn(args) -> exit code`` as a sub-command whose options ``add_args(parser)`` declares."""

    def register(fn):
        COMMANDS[name] = (help, add_args, fn)
        return fn

    return register


def _data_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", help="folder holding the datasets (default: $SONOGRAM_DATA, else "
                                       "~/.cache/sonogram/data)")


def _datasets_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="show one dataset in detail: classes, speakers, splits (fsdd, "
                                            "speech_commands, speech_commands_test, audiomnist, folder, multi)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="loader option for NAME, e.g. task=12 or version=v0.01 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    _data_root(p)
    p.add_argument("--json", action="store_true", help="print JSON")


@command("datasets", "list the datasets found under the data root with clip, class and speaker counts", _datasets_args)
def cmd_datasets(args: argparse.Namespace) -> int:
    from sonogram.config import apply_overrides
    from sonogram.service.datasets import describe, survey

    if args.name:
        return _show_dataset(describe(args.name, apply_overrides({}, args.option), args.seed, args.data_root),
                             args.json)
    found = survey(args.data_root)
    if args.json:
        for row in found["datasets"]:
            print(json.dumps(row))
        return 0
    print(f"data root: {found['data_root']}")
    print(f"{'dataset':<28}{'clips':>8}{'classes':>9}{'speakers':>10}{'rate':>8}  splits")
    for row in found["datasets"]:
        if "missing" in row:
            print(f"{row['name']:<28}  not found")
        else:
            print(f"{row['name']:<28}{row['clips']:>8}{row['classes']:>9}{row['speakers']:>10}"
                  f"{row['sample_rate']:>8}  {', '.join(row['splits'])}")
    return 0


def _show_dataset(summary: dict, as_json: bool) -> int:
    if as_json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['name']}: {summary['clips']} clips, {summary['classes']} classes, "
          f"{summary['speakers']} speakers, {summary['sample_rate']} Hz")
    print("clips per class: " + ", ".join(f"{label}={n}" for label, n in summary["per_class"].items()))
    for source in summary.get("sources", []):  # a multi dataset
        print(f"source {source['name']} ({source['role']}): {source['clips']:,} clips ({source['dropped']:,} "
              f"dropped), {source['speakers']} speakers, {source['sample_rate']} Hz, speaker space "
              f"{source['speaker_space']!r}")
    for protocol, folds in summary["splits"].items():
        disjoint = "speaker-disjoint" if protocol in summary["speaker_disjoint"] else "speakers shared by design"
        print(f"split {protocol!r} ({len(folds)} fold{'s' * (len(folds) > 1)}, {disjoint}):")
        for fold in folds:
            print(f"  {fold['name']:<22} train {fold['train']:>6}  val {fold['val']:>6}  test {fold['test']:>6}"
                  f"  speakers in two parts: {fold['shared_speakers']}")
    return 0


def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="which public dataset to fetch (fsdd, speech_commands_v0.01, "
                                  "speech_commands_v0.02, audiomnist)")
    _data_root(p)


@command("download", "download and unpack a public dataset into the data root (checksum-verified)", _download_args)
def cmd_download(args: argparse.Namespace) -> int:
    from sonogram.data import download

    print(download(args.source, args.data_root))
    return 0


# --- synth (issue 15): parse, call sonogram.service.datasets.synthesise, print ---
def _synth_args(p: argparse.ArgumentParser) -> None:
    # No import of sonogram.data here: building the parser must not need torch (a serve-only install has none).
    p.add_argument("words", nargs="+", metavar="WORD", help="words to speak, one class folder each (letters only)")
    p.add_argument("--out", required=True, help="folder to write (refused if it exists and is not empty)")
    p.add_argument("--voices", type=int, default=40, help="synthetic speakers (default 40)")
    p.add_argument("--takes", type=int, default=2, help="takes of each word per voice (default 2)")
    p.add_argument("--rate", type=int, default=16000, help="sample rate in Hz (default 16000)")
    p.add_argument("--languages", type=lambda text: [x for x in text.split(",") if x],
                   help="comma-separated espeak-ng languages (default: its 8 English accents, en-us, en-gb, ...)")
    p.add_argument("--seed", type=int, default=0, help="seed for voices, pitch, speed and amplitude (default 0)")
    p.add_argument("--silence", type=int, default=0, metavar="N",
                   help="also write N one-second clips of generated noise as a _silence_ class (default 0)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


@command("synth", "write a folder corpus of words spoken by many espeak-ng voices (one speaker per voice)",
         _synth_args)
def cmd_synth(args: argparse.Namespace) -> int:
    from sonogram.data.speech_synth import SILENCE
    from sonogram.service.datasets import synthesise

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"synth: {done}/{total} clips", file=sys.stderr, flush=True)

    summary = synthesise(args.words, args.out, args.voices, args.takes, args.rate, args.languages, args.seed,
                         args.force, progress, args.silence)
    if args.json:
        print(json.dumps(summary))
    else:
        silence = f" + {summary['silence']} {SILENCE} clips" if summary["silence"] else ""
        print(f"{summary['out']}: {summary['clips']} clips ({len(summary['words'])} words x {summary['voices']} "
              f"voices x {summary['takes']} takes){silence}, {summary['rate']} Hz, "
              f"{summary['seconds']:.0f} s of speech, espeak-ng {summary['espeak_ng']}")
    return 0
# --- end of synth ---


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
    from sonogram.errors import ConfigError
    from sonogram.service.designs import describe_design

    described = describe_design(args.file, args.overrides, args.budget, args.scale)
    if args.json:
        print(json.dumps({"design": described.design, "layers": described.rows, "params": described.params,
                          "trainable": described.trainable, "errors": described.errors}))
        return 0 if described.valid else 2
    if not described.valid:
        raise ConfigError(described.errors[0]["message"])
    if args.budget is not None:
        print(f"model.{args.scale} = {described.design['model'][args.scale]} for a budget of {args.budget:,} parameters")
    print(design_table(described))
    return 0


def design_table(described) -> str:
    """A Keras-style table of layers, output shapes and parameter counts."""
    lines = [f"{'layer':<34}{'type':<26}{'output shape':<24}{'params':>10}", "-" * 94]
    for row in described.rows:
        shape = "" if row["output"] is None else "(" + ", ".join(map(str, row["output"])) + ")"
        lines.append(f"{row['layer']:<34}{row['type']:<26}{shape:<24}{row['params']:>10,}")
    design = described.design
    lines += ["-" * 94, f"total params: {described.params:,}   trainable: {described.trainable:,}   "
              f"input: ({design['num_samples']},) samples at {design['sample_rate']} Hz"]
    return "\n".join(lines)


def _recipe_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("recipe", nargs=None if required else "?",
                   help="recipe YAML, or the name of a bundled recipe (see `sonogram recipes`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a recipe key, e.g. train.epochs=5 or design.model.hidden=64 (repeatable)")
    _data_root(p)


def _load_recipe(args: argparse.Namespace):
    from sonogram.service.training import resolve_recipe

    return resolve_recipe(args.recipe, args.overrides, args.data_root)


def _train_args(p: argparse.ArgumentParser) -> None:
    _recipe_args(p, required=False)
    p.add_argument("--out", help="run folder (default: runs/RECIPE_NAME, numbered if taken)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--json", action="store_true", help="print metrics.json instead of tables")


@command("train", "train a recipe and leave a run folder (config, labels, model.pt, metrics, history)", _train_args)
def cmd_train(args: argparse.Namespace) -> int:
    from sonogram.errors import ConfigError
    from sonogram.service import training

    if args.resume:
        if args.recipe or args.overrides:
            raise ConfigError("--resume takes the recipe saved in the run folder; give no RECIPE or --set")
        result = training.resume(args.resume, progress=print_progress, command=_command_line())
    else:
        if not args.recipe:
            raise ConfigError("give a RECIPE (a YAML file or a bundled name such as fsdd) or --resume RUN_DIR")
        recipe = _load_recipe(args)
        result = training.train(recipe, args.out, progress=print_progress if recipe.train.progress else None,
                                command=_command_line())
    if result.metrics is None:  # a non-zero DDP rank
        return 0
    _print_metrics(result.metrics, result.run_dir, args.json)
    if not args.json and result.report:
        print(f"report: {result.report}")
    return 0


def _command_line() -> str:
    return " ".join(["sonogram", *sys.argv[1:]])


def print_progress(event: dict) -> None:
    """One readable line per finished epoch (and per fold of a cross-validation), on stderr."""
    if event["event"] == "fold":
        print(f"fold {event['index']}/{event['folds']}: {event['fold']}"
              + {"finished": " (already finished)", "resumable": " (resuming)"}.get(event["state"], ""),
              file=sys.stderr, flush=True)
    elif event["event"] == "epoch":
        print(f"  epoch {event['epoch']:>3}/{event['epochs']}  train loss {event['train_loss']:.4f} "
              f"acc {event['train_accuracy']:.4f}  val loss {event['val_loss']:.4f} acc {event['val_accuracy']:.4f} "
              f"F1 {event['val_macro_f1']:.4f}  lr {event['lr']:.2e}  {event['seconds']:.1f} s",
              file=sys.stderr, flush=True)
    elif event["event"] == "started":
        print(f"training into {event['run']}", file=sys.stderr, flush=True)


def _print_metrics(metrics: dict, run_dir: Path, as_json: bool, detailed: str = "test") -> None:
    """One line per part, then the class report and confusion matrix of the ``detailed`` part."""
    from sonogram.evaluate import confusion_table, report_table

    if as_json:
        print(json.dumps(metrics))
        return
    print(f"run folder: {run_dir}")
    for part in ("train", "val", "test"):
        if part in metrics and part != detailed:
            m = metrics[part]
            print(f"{part}: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f} ({m['clips']} clips)")
    if detailed in metrics:
        print(report_table(metrics[detailed], detailed))
        print("confusion (rows: true, columns: predicted)")
        print(confusion_table(metrics[detailed]))
    if "params" in metrics:
        print(f"params {metrics['params']:,}; {metrics['epochs']} epochs (best {metrics['best_epoch']}) in "
              f"{metrics['train_seconds']:.1f} s on {metrics['device']}")


def _cv_args(p: argparse.ArgumentParser) -> None:
    _recipe_args(p)
    p.add_argument("--out", help="folder for the fold runs and cv.json (default: runs/RECIPE_NAME-cv); "
                                 "an existing one is resumed")
    p.add_argument("--json", action="store_true", help="print cv.json")


@command("cv", "cross-validate a recipe over every fold of its split; resumes finished folds", _cv_args)
def cmd_cv(args: argparse.Namespace) -> int:
    from sonogram.engine.cv import cv_table
    from sonogram.service.training import cross_validate

    recipe = _load_recipe(args)
    result = cross_validate(recipe, args.out, progress=print_progress if recipe.train.progress else None,
                            command=_command_line())
    if args.json:
        print(json.dumps(result.summary))
    else:
        print(f"cross-validation folder: {result.out_dir}")
        print(cv_table(result.summary))
        if result.report:
            print(f"report: {result.report}")
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder written by sonogram train")
    p.add_argument("--part", choices=["train", "val", "test", "all"], default="test", help="which part (default test)")
    _data_root(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")


@command("evaluate", "evaluate a run's model.pt on its own split (test by default)", _evaluate_args)
def cmd_evaluate(args: argparse.Namespace) -> int:
    from sonogram.service.results import evaluate

    parts = ("train", "val", "test") if args.part == "all" else (args.part,)
    metrics = evaluate(args.run_dir, parts, args.data_root)
    _print_metrics(metrics, Path(args.run_dir), args.json, "test" if args.part == "all" else args.part)
    return 0


def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN|MODEL.onnx", help="a run folder (sonogram train) or an exported .onnx")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched for .wav/.flac/.ogg)")
    p.add_argument("--json", action="store_true", help="one JSON object per file: path, label, probabilities")
    p.add_argument("--backend", choices=["torch", "onnx"], help="runtime (default: onnx for a .onnx file, else torch)")


@command("predict", "predict the class of audio files with a trained run (any sample rate)", _predict_args)
def cmd_predict(args: argparse.Namespace) -> int:
    from sonogram.errors import AudioError
    from sonogram.service.prediction import predict_files

    failed = 0
    for result in predict_files(args.run_dir, args.paths, backend=args.backend):
        if isinstance(result, AudioError):
            failed += 1
            print(printable(f"sonogram predict: error: {result}"), file=sys.stderr)
            continue
        if result.note:
            print(f"sonogram predict: note: {result.path}: {result.note}", file=sys.stderr)
        if args.json:
            print(json.dumps(result.as_json()), flush=True)
        else:
            print(f"{result.path}\t{result.label}\t{result.score:.3f}", flush=True)
    return 1 if failed else 0


# --- listen (issue 13): keyword spotting on a stream, one JSON line per detection ---
def _class_threshold(text: str) -> tuple[str, float]:
    label, sep, value = text.rpartition("=")
    try:
        if sep and label:
            return label, float(value)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected LABEL=P with P in (0, 1], got {text!r}")


def _listen_args(p: argparse.ArgumentParser) -> None:
    from sonogram.inference.detection import DetectorConfig
    from sonogram.inference.sources import RAW_FORMATS

    defaults = DetectorConfig()
    p.add_argument("run_dir", metavar="RUN|MODEL.onnx", help="a run folder (sonogram train) or an exported .onnx")
    p.add_argument("source", nargs="?", metavar="SOURCE",
                   help="an audio file of any length, or - for standard input (WAV, or raw PCM with --rate)")
    p.add_argument("--mic", action="store_true", help="listen to the microphone (needs the 'mic' extra)")
    p.add_argument("--device", help="microphone device name or number (default: the system's default input)")
    p.add_argument("--threshold", type=float, default=defaults.threshold,
                   help=f"smoothed score a word must reach (default {defaults.threshold})")
    p.add_argument("--class-threshold", type=_class_threshold, action="append", default=[], metavar="LABEL=P",
                   help="a threshold for one class (repeatable)")
    p.add_argument("--smooth", type=float, default=defaults.smooth,
                   help=f"seconds of posteriors averaged before the threshold (default {defaults.smooth})")
    p.add_argument("--refractory", type=float, default=defaults.refractory,
                   help=f"seconds of quiet after a detection (default {defaults.refractory})")
    p.add_argument("--hop", type=float, default=0.1, help="seconds between scored windows (default 0.1)")
    p.add_argument("--engine", choices=["auto", "frames", "embeddings", "windows"], default="auto",
                   help="frames: reuse the front-end's frames between windows; embeddings: reuse speech_embedding's "
                        "frames and embeddings; windows: run each window whole (auto: the first that the model allows)")
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op threads of the runtime (default 1: a hop's work is too small to share)")
    p.add_argument("--frames", action="store_true",
                   help='also print each window\'s posteriors: {"time": s, "probabilities": {label: p}}')
    p.add_argument("--rate", type=int, help="standard input is raw PCM at this rate (Hz), not WAV")
    p.add_argument("--format", dest="sample_format", choices=sorted(RAW_FORMATS), default="s16le",
                   help="raw PCM sample format (default s16le)")
    p.add_argument("--channels", type=int, default=1, help="raw PCM channels, mixed to mono (default 1)")


@command("listen", "spot keywords in a long file, standard input or the microphone: one JSON line per detection",
         _listen_args)
def cmd_listen(args: argparse.Namespace) -> int:
    from sonogram.errors import ConfigError
    from sonogram.inference.detection import DetectorConfig
    from sonogram.inference.sources import FileSource, MicrophoneSource, StreamSource
    from sonogram.service.listening import listen, open_stream

    if (args.source is None) == (not args.mic):
        raise ConfigError("give one source: an audio file, - for standard input, or --mic")
    if args.source != "-" and (args.rate is not None or args.channels != 1 or args.sample_format != "s16le"):
        raise ConfigError("--rate, --format and --channels describe raw PCM on standard input (SOURCE -)")
    config = DetectorConfig(args.threshold, dict(args.class_threshold), args.smooth, args.refractory)
    if not 1 <= args.threads <= 256:
        raise ConfigError(f"--threads must be from 1 to 256, got {args.threads}")
    stream, detector = open_stream(args.run_dir, args.hop, args.engine, config, args.threads)  # before any audio
    if args.mic:
        source = MicrophoneSource(16000, args.device)  # resampled to the model's rate as it arrives
    elif args.source == "-":
        source = StreamSource(sys.stdin.buffer, args.rate, args.sample_format, args.channels)
    else:
        source = FileSource(args.source)
    print(f"sonogram listen: {source.name} at {source.sample_rate} Hz -> {stream.sample_rate} Hz, "
          f"{stream.engine} engine, {stream.window_seconds:g} s window every {stream.hop_seconds:g} s",
          file=sys.stderr, flush=True)

    def window(time: float, probabilities) -> None:
        print(json.dumps({"time": round(time, 3), "probabilities": {label: round(float(p), 4) for label, p in
                                                                    zip(stream.labels, probabilities)}}), flush=True)

    summary = listen(stream, detector, source, on_detection=lambda d: print(json.dumps(d.as_json()), flush=True),
                     on_window=window if args.frames else None)
    if summary.note:
        print(f"sonogram listen: note: {summary.note}", file=sys.stderr)
    print(f"sonogram listen: {summary.detections} detection{'s' * (summary.detections != 1)} in "
          f"{summary.seconds:.1f} s of audio; real-time factor {summary.real_time_factor:.3f}", file=sys.stderr)
    return 0


# --- export and serve (issue 12): parse, call sonogram.network.export / sonogram.serve, print ---
def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder written by sonogram train")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript"], help="file format")
    p.add_argument("--out", help="model file or folder (default: RUN/export/model.onnx or model.torchscript.pt)")


@command("export", "export a run's network, front-end included, to ONNX or TorchScript with a model card", _export_args)
def cmd_export(args: argparse.Namespace) -> int:
    from sonogram.network.export import export_run

    model, card = export_run(args.run_dir, args.format, args.out)
    print(f"{model}\n{card}")
    return 0


def _serve_args(p: argparse.ArgumentParser) -> None:
    from sonogram.serve.config import ServeConfig

    defaults = ServeConfig()
    p.add_argument("model", metavar="RUN|MODEL.onnx", help="a run folder (torch) or an exported .onnx (onnxruntime)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=free_or_port_number, default=8000,
                   help="port (default 8000; 0: a free one, named in the start-up line)")
    p.add_argument("--backend", choices=["torch", "onnx"], help="runtime (default: onnx for a .onnx file, else torch)")
    p.add_argument("--token", default=os.environ.get("SONOGRAM_TOKEN"),
                   help="require 'Authorization: Bearer TOKEN' (default: $SONOGRAM_TOKEN; none: open)")
    p.add_argument("--max-batch", type=int, default=defaults.max_batch, help="micro-batch size; 1 turns batching off")
    p.add_argument("--batch-wait-ms", type=float, default=defaults.batch_wait_ms,
                   help="how long the first request of a batch waits for others")
    p.add_argument("--max-mb", type=float, default=defaults.max_bytes / 1e6, help="largest upload in MB (413 above)")
    p.add_argument("--max-seconds", type=float, default=defaults.max_seconds, help="longest audio (413 above)")
    p.add_argument("--threads", type=int, default=defaults.threads, help="inference threads (0: the runtime's default)")


@command("serve", "serve a model over HTTP: /v1/predict, /v1/predict/batch, /v1/health, /v1/labels, /v1/model",
         _serve_args)
def cmd_serve(args: argparse.Namespace) -> int:
    from sonogram.serve.config import ServeConfig
    from sonogram.serve.server import run_server

    config = ServeConfig(max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
                         max_bytes=int(args.max_mb * 1e6), max_seconds=args.max_seconds, token=args.token,
                         threads=args.threads)
    run_server(args.model, config, args.host, args.port, args.backend)
    return 0
# --- end of export and serve ---


@command("recipes", "list the bundled recipes", lambda p: None)
def cmd_recipes(args: argparse.Namespace) -> int:
    from sonogram.recipe import RECIPES_DIR, bundled_recipes

    print(f"recipes in {RECIPES_DIR}  (run one with: sonogram train NAME)")
    for name, description in bundled_recipes():
        print(f"  {name:<28}{description}")
    return 0


def _lr_find_args(p: argparse.ArgumentParser) -> None:
    _recipe_args(p)
    p.add_argument("--out", default="lr_find.png", help="where to save the loss-vs-learning-rate plot")
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--max-lr", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=100, help="training steps in the sweep")


@command("lr-find", "sweep the learning rate, plot loss against it and suggest a value", _lr_find_args)
def cmd_lr_find(args: argparse.Namespace) -> int:
    from sonogram.engine.lr_find import find_learning_rate

    suggestion = find_learning_rate(_load_recipe(args), _plot_path(args.out), args.min_lr, args.max_lr, args.steps)
    print(f"suggested learning rate: {suggestion:.3g}  (plot: {args.out}; use --set optim.lr={suggestion:.3g})")
    return 0


PLOT_KINDS = {
    "waveform": "amplitude against time",
    "spectrogram": "linear, log-frequency or mel spectrogram in dB",
    "filterbank": "mel filters over the FFT bins",
    "fourier-vs-mel": "one frame's Fourier and mel coefficients side by side",
    "curves": "loss, accuracy, macro-F1 and learning rate per epoch of one or more runs",
    "confusion": "a run's classification matrices (counts and row-normalised)",
    "lr-find": "the learning-rate sweep of a recipe (same as sonogram lr-find)",
    "frames": "per-frame class probabilities along a file, one panel per run, waveform below",
    "weights": "the learned LearnableSTFT (or first convolution) kernels of a run",
}


def _plot_args(p: argparse.ArgumentParser) -> None:
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, help_text in PLOT_KINDS.items():
        k = kinds.add_parser(kind, help=help_text, description=help_text)
        if kind in ("waveform", "spectrogram", "fourier-vs-mel"):
            k.add_argument("file", help="an audio file")
            k.add_argument("--sample-rate", type=int, help="resample to this rate (default: the file's)")
        if kind in ("spectrogram", "fourier-vs-mel", "filterbank"):
            k.add_argument("--n-fft", type=int, default=512)
            k.add_argument("--n-mels", type=int, default=40)
        if kind == "spectrogram":
            k.add_argument("--kind", dest="scale", choices=["linear", "log", "mel"], default="linear")
            k.add_argument("--hop-length", type=int)
        if kind == "fourier-vs-mel":
            k.add_argument("--time", type=float, help="frame time in seconds (default: the loudest frame)")
        if kind == "filterbank":
            k.add_argument("--sample-rate", type=int, default=16000)
            k.add_argument("--mel-scale", choices=["slaney", "htk"], default="slaney")
        if kind in ("curves",):
            k.add_argument("runs", nargs="+", metavar="RUN_DIR")
        if kind in ("confusion", "weights"):
            k.add_argument("run", metavar="RUN_DIR")
        if kind == "frames":
            k.add_argument("runs", nargs="+", metavar="RUN_DIR", help="one or two (or more) runs, then the file")
            k.add_argument("--hop", type=float, default=0.05, help="seconds between window positions")
        if kind == "lr-find":
            _recipe_args(k)
            k.add_argument("--steps", type=int, default=100)
        k.add_argument("--out", help=f"PNG or SVG file (default: {kind}.png)")


def _plot_path(out: str) -> Path:
    from sonogram.errors import ConfigError

    path = Path(out)
    if path.suffix.lower() not in (".png", ".svg"):
        raise ConfigError(f"--out {path}: plots are saved as .png or .svg")
    if path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give a file name such as {path / 'plot.png'}")
    return path


def _positive(args: argparse.Namespace, *names: str) -> None:
    from sonogram.errors import ConfigError

    for name in names:
        value = getattr(args, name.replace("-", "_"), None)
        if value is not None and not value > 0:
            raise ConfigError(f"--{name} must be positive, got {value}")


@command("plot", "draw a figure (PNG or SVG): signals, spectrograms, curves, matrices, per-frame predictions", _plot_args)
def cmd_plot(args: argparse.Namespace) -> int:
    from sonogram.audio import load
    from sonogram.reports import plots
    from sonogram.service import results

    out = _plot_path(args.out or f"{args.kind}.png")
    _positive(args, "n-fft", "n-mels", "hop-length", "hop", "sample-rate", "steps")
    if args.kind == "lr-find":
        from sonogram.engine.lr_find import find_learning_rate

        suggestion = find_learning_rate(_load_recipe(args), out, steps=args.steps)
        print(f"suggested learning rate: {suggestion:.3g}")
    elif args.kind in ("waveform", "spectrogram", "fourier-vs-mel"):
        waveform, rate = load(args.file, args.sample_rate)
        title = Path(args.file).name
        if args.kind == "waveform":
            fig = plots.plot_waveform(waveform, rate, title)
        elif args.kind == "spectrogram":
            fig = plots.plot_spectrogram(waveform, rate, args.scale, args.n_fft, args.hop_length, args.n_mels,
                                         f"{title}: {args.scale} spectrogram")
        else:
            fig = plots.plot_fourier_vs_mel(waveform, rate, args.time, args.n_fft, args.n_mels)
        plots.save(fig, out)
    elif args.kind == "filterbank":
        plots.save(plots.plot_filterbank(args.sample_rate, args.n_fft, args.n_mels, args.mel_scale), out)
    elif args.kind == "curves":
        plots.save(plots.plot_curves(results.curves(args.runs)), out)
    elif args.kind == "confusion":
        plots.save(plots.plot_confusion(results.run_details(args.run)["metrics"]), out)
    elif args.kind == "weights":
        from sonogram.runs import Run

        network, _ = Run(args.run).model()
        plots.save(plots.plot_weights(*plots.kernel_weights(network)), out)
    else:
        from sonogram.service.prediction import frame_probabilities

        *runs, file = args.runs
        comparison = frame_probabilities(runs, file, args.hop)
        panels = [p.plotted() for p in comparison.panels]
        plots.save(plots.plot_frames(panels, comparison.waveform, comparison.sample_rate, Path(file).name), out)
    print(out)
    return 0


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="one run (writes RUN_DIR/report.html) or several")
    p.add_argument("--out", help="where to write a comparison of several runs (default: report.html)")


@command("report", "write a run's (or a cv folder's) self-contained report.html, or compare runs side by side",
         _report_args)
def cmd_report(args: argparse.Namespace) -> int:
    from sonogram.service.results import write_report

    print(write_report(args.runs, args.out))
    return 0


def _experiments_args(p: argparse.ArgumentParser) -> None:
    names = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    k = names.add_parser("learn-stft", help="train a bias-free linear layer to compute scipy's STFT",
                         description="Train a bias-free linear layer to compute scipy's complex STFT of random "
                                     "audio, compare with least squares, plot the learned windowed sinusoids.")
    k.add_argument("--out", default="runs/learn-stft", help="folder for results.json, figures and index.html")
    k.add_argument("--clips", type=int, default=8192, help="random training clips")
    k.add_argument("--epochs", type=int, default=10)
    k.add_argument("--batch-size", type=int, default=128)
    k.add_argument("--seed", type=int, default=0)


@command("experiments", "reproduce a reference experiment (learn-stft)", _experiments_args)
def cmd_experiments(args: argparse.Namespace) -> int:
    from sonogram.experiments.learn_stft import LearnSTFTConfig, run

    config = LearnSTFTConfig(clips=args.clips, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    results = run(args.out, config)
    print(f"{'epoch':>5}  {'STFT MSE':>10}  {'DFT MSE':>10}")
    for stft, dft in zip(results["stft"]["history"], results["dft"]["history"]):
        print(f"{stft['epoch']:>5}  {stft['mse']:>10.3g}  {dft['mse']:>10.3g}")
    print(f"closed form (least squares) MSE: STFT {results['stft']['closed_form_loss']:.3g}, "
          f"DFT {results['dft']['closed_form_loss']:.3g}")
    print(f"learned vs closed-form weights, relative L2: STFT "
          f"{results['stft']['weights_relative_error_vs_closed_form']:.3g}, "
          f"DFT {results['dft']['weights_relative_error_vs_closed_form']:.3g}")
    print(f"summary: {Path(args.out) / 'index.html'}")
    return 0


def _studio_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", default="runs", help="folder of run folders to list, inspect and train into (default: runs)")
    _data_root(p)
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port_number, help="port (default: the first free one from 7860)")


@command("studio", "start the browser studio: design, train, inspect and try networks", _studio_args)
def cmd_studio(args: argparse.Namespace) -> int:
    from sonogram.studio.app import launch

    launch(args.runs, args.data_root, args.host, args.port)
    return 0


def port_number(text: str, lowest: int = 1) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not lowest <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is {lowest} to 65535, got {port}")
    return port


def free_or_port_number(text: str) -> int:
    """An argparse type: a TCP port, or 0 for a free one that the system picks."""
    return port_number(text, lowest=0)


# Optional packages and the extra that installs each (see pyproject.toml).
EXTRAS = {"lightning": "train", "torchmetrics": "train", "tensorboard": "train", "matplotlib": "train",
          "onnx": "export", "onnxscript": "export", "onnxruntime": "serve", "fastapi": "serve", "uvicorn": "serve",
          "gradio": "studio", "plotly": "studio"}


def printable(text: str) -> str:
    """``text`` with file-name bytes that are not UTF-8 shown as escapes instead of failing to print."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


POSITIONALS = ("recipe", "run_dir", "paths", "runs", "run", "file", "name", "source", "action", "kind", "words")


def _refuse_empty(args: argparse.Namespace) -> None:
    """An empty string names no file, folder or value; never let it fall back to a default or the current folder."""
    from sonogram.errors import ConfigError

    for name, value in vars(args).items():
        if value == "" or (isinstance(value, list) and "" in value):
            option = {"overrides": "set"}.get(name, name).replace("_", "-")  # dest -> the option's name
            shown = name.upper() if name in POSITIONALS else f"--{option}"
            raise ConfigError(f"{shown} is an empty string; give a value")


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors quote arguments that are not UTF-8 with escapes instead of failing to print."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, printable(f"{self.prog}: error: {message}\n"))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="sonogram", description="Classify spoken words from audio.")
    parser.add_argument("--version", action="version", version=f"sonogram {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    from sonogram.errors import USER_ERRORS, Interrupted

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # a deprecation inside Lightning, not ours
    # a frozen pretrained node keeps its batch norms in eval mode on purpose; Lightning warns of any such module
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        _refuse_empty(args)
        return COMMANDS[args.command][2](args)
    except USER_ERRORS as exc:
        print(printable(f"sonogram {args.command}: error: {exc}"), file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        extra = EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"sonogram {args.command}: error: this needs the '{extra}' extra ({exc.name} is not installed): "
              f"pip install 'sonogram[{extra}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sonogram {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Interrupted as exc:
        print(f"sonogram {args.command}: {exc}", file=sys.stderr)
        return 130
