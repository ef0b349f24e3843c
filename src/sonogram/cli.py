"""The ``sonogram`` command. Each sub-command is a small function; user errors print one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
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
    p.add_argument("--data-root", help="folder holding the datasets (default: $SONOGRAM_DATA, else ~/.cache/sonogram/data)")


def _datasets_args(p: argparse.ArgumentParser) -> None:
    from sonogram.data import LOADERS

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
    from sonogram.data import DatasetError, load_dataset, resolve_data_root

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
    from sonogram.data import load_dataset, speaker_overlap

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
    from sonogram.data import SOURCES

    p.add_argument("source", choices=sorted(SOURCES), help="which public dataset to fetch")
    _data_root(p)


@command("download", "download and unpack a public dataset into the data root (checksum-verified)", _download_args)
def cmd_download(args: argparse.Namespace) -> int:
    from sonogram.data import download

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
    from sonogram.network.design import build_network, count_params, load_design, match_budget, summary, summary_rows
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


def _recipe_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("recipe", nargs=None if required else "?",
                   help="recipe YAML, or the name of a bundled recipe (see `sonogram recipes`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a recipe key, e.g. train.epochs=5 or design.model.hidden=64 (repeatable)")
    _data_root(p)


def _load_recipe(args: argparse.Namespace):
    from sonogram.recipe import load_recipe

    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"dataset.data_root={args.data_root}")
    return load_recipe(args.recipe, overrides)


def _free_run_dir(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``... : a new run never lands in a folder that holds one."""
    candidate, n = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _train_args(p: argparse.ArgumentParser) -> None:
    _recipe_args(p, required=False)
    p.add_argument("--out", help="run folder (default: runs/RECIPE_NAME, numbered if taken)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--json", action="store_true", help="print metrics.json instead of tables")


@command("train", "train a recipe and leave a run folder (config, labels, model.pt, metrics, history)", _train_args)
def cmd_train(args: argparse.Namespace) -> int:
    from sonogram.errors import ConfigError
    from sonogram.engine.train import load_run_recipe, train_run

    if args.resume:
        if args.recipe or args.overrides:
            raise ConfigError("--resume takes the recipe saved in the run folder; give no RECIPE or --set")
        run_dir = Path(args.resume)
        recipe = load_run_recipe(run_dir)
        metrics = train_run(recipe, run_dir, resume=True)
    else:
        if not args.recipe:
            raise ConfigError("give a RECIPE (a YAML file or a bundled name such as fsdd) or --resume RUN_DIR")
        recipe = _load_recipe(args)
        run_dir = Path(args.out) if args.out else _free_run_dir(Path("runs") / recipe.name)
        metrics = train_run(recipe, run_dir)
    if metrics is None:  # a non-zero DDP rank
        return 0
    _print_metrics(metrics, run_dir, args.json)
    if not args.json:
        print(f"report: {run_dir / 'report.html'}")
    return 0


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
    from sonogram.engine.cv import cv_table, run_cv

    recipe = _load_recipe(args)
    out = Path(args.out) if args.out else Path("runs") / f"{recipe.name}-cv"
    summary = run_cv(recipe, out)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"cross-validation folder: {out}")
        print(cv_table(summary))
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a run folder written by sonogram train")
    p.add_argument("--part", choices=["train", "val", "test", "all"], default="test", help="which part (default test)")
    _data_root(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")


@command("evaluate", "evaluate a run's model.pt on its own split (test by default)", _evaluate_args)
def cmd_evaluate(args: argparse.Namespace) -> int:
    from sonogram.data.loaders import prepare_fold
    from sonogram.evaluate import part_metrics
    from sonogram.inference.predictor import load_run
    from sonogram.engine.train import load_run_recipe

    recipe = load_run_recipe(args.run_dir)
    if args.data_root:
        recipe.dataset.data_root = args.data_root
    network, _ = load_run(args.run_dir)
    parts = ("train", "val", "test") if args.part == "all" else (args.part,)
    metrics = part_metrics(network, prepare_fold(recipe), parts)
    _print_metrics(metrics, Path(args.run_dir), args.json, "test" if args.part == "all" else args.part)
    return 0


def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN|MODEL.onnx", help="a run folder (sonogram train) or an exported .onnx")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched for .wav/.flac/.ogg)")
    p.add_argument("--json", action="store_true", help="one JSON object per file: path, label, probabilities")
    p.add_argument("--backend", choices=["torch", "onnx"], help="runtime (default: onnx for a .onnx file, else torch)")


@command("predict", "predict the class of audio files with a trained run (any sample rate)", _predict_args)
def cmd_predict(args: argparse.Namespace) -> int:
    from sonogram.audio import AudioError

    if args.backend == "onnx" or (args.backend is None and args.run_dir.lower().endswith(".onnx")):
        from sonogram.inference.backend import onnx_predictions

        results = onnx_predictions(args.run_dir, args.paths)
    else:
        from sonogram.inference.predictor import load_run, predict_files

        network, checkpoint = load_run(args.run_dir)
        results = predict_files(network, checkpoint["labels"], args.paths, checkpoint.get("align", "center"))
    failed = 0
    for result in results:
        if isinstance(result, AudioError):
            failed += 1
            print(f"sonogram predict: error: {result}", file=sys.stderr)
        elif args.json:
            print(json.dumps(result.as_json()), flush=True)
        else:
            print(f"{result.path}\t{result.label}\t{result.probabilities[result.label]:.3f}", flush=True)
    return 1 if failed else 0


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
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
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

    suggestion = find_learning_rate(_load_recipe(args), Path(args.out), args.min_lr, args.max_lr, args.steps)
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


@command("plot", "draw a figure (PNG or SVG): signals, spectrograms, curves, matrices, per-frame predictions", _plot_args)
def cmd_plot(args: argparse.Namespace) -> int:
    from sonogram.reports import plots
    from sonogram.audio import load

    out = Path(args.out or f"{args.kind}.png")
    if out.suffix.lower() not in plots.FORMATS:
        from sonogram.errors import ConfigError

        raise ConfigError(f"--out {out}: plots are saved as .png or .svg")
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
        plots.save(plots.plot_curves(args.runs), out)
    elif args.kind == "confusion":
        plots.save(plots.plot_confusion(args.run), out)
    elif args.kind == "weights":
        from sonogram.inference.predictor import load_run

        network, _ = load_run(args.run)
        plots.save(plots.plot_weights(*plots.kernel_weights(network)), out)
    else:
        _plot_frames(args, out)
    print(out)
    return 0


def _plot_frames(args: argparse.Namespace, out: Path) -> None:
    from sonogram.reports import plots
    from sonogram.audio import load
    from sonogram.errors import ConfigError
    from sonogram.inference.predictor import load_run, sliding_probabilities

    *runs, file = args.runs
    if not runs:
        raise ConfigError("give at least one RUN_DIR before the audio FILE")
    panels, waveform, rate = [], None, None
    for run in runs:
        network, checkpoint = load_run(run)
        rate = rate or network.design.sample_rate
        if network.design.sample_rate != rate:
            raise ConfigError(f"{run} works at {network.design.sample_rate} Hz but {runs[0]} at {rate} Hz; "
                              "compare runs with the same rate")
        waveform, _ = load(file, rate)
        times, probabilities = sliding_probabilities(network, waveform, args.hop)
        panels.append((Path(run).name, times, probabilities, checkpoint["labels"]))
    plots.save(plots.plot_frames(panels, waveform, rate, Path(file).name), out)


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="one run (writes RUN_DIR/report.html) or several")
    p.add_argument("--out", help="where to write a comparison of several runs (default: report.html)")


@command("report", "write a run's self-contained report.html, or compare several runs side by side", _report_args)
def cmd_report(args: argparse.Namespace) -> int:
    from sonogram.reports.report import write_report

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
    from sonogram.errors import ConfigError
    from sonogram.experiments.learn_stft import LearnSTFTConfig, run

    if args.clips < 64 or args.epochs < 1 or args.batch_size < 1:
        raise ConfigError("need --clips >= 64, --epochs >= 1 and --batch-size >= 1")
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


def _quiet_lightning() -> None:
    """Drop Lightning's device and tip messages (it sets its logger to INFO when imported, so import first)."""
    importlib.import_module("lightning.pytorch")
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sonogram", description="Classify spoken words from audio.")
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
    if not args.verbose and args.command in ("train", "cv", "lr-find"):
        _quiet_lightning()
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
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Interrupted as exc:
        print(f"sonogram {args.command}: {exc}", file=sys.stderr)
        return 130
