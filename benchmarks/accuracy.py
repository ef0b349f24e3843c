"""Accuracy benchmark: train or cross-validate the bundled recipes and tabulate what they reach.

    python benchmarks/accuracy.py                 # every experiment (hours on a 2-core CPU)
    python benchmarks/accuracy.py fsdd-fast fsdd  # some of them
    python benchmarks/accuracy.py --table         # print the recorded table only (--markdown for the README)

Each experiment runs the real command (`sonogram train` or `sonogram cv`) in a subprocess and
records test accuracy and macro-F1 (mean +- std over folds for cv), parameters, the summed
training time of the folds and the wall-clock time of the whole command. Experiments marked
`cold` start from an empty waveform cache, so their wall time includes decoding the corpus.
Results merge into benchmarks/results/accuracy.json by experiment key.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import RESULTS, print_table, write_json

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Experiment:
    key: str
    group: str
    recipe: str
    mode: str  # "train" (one split) or "cv" (every fold)
    overrides: list[str] = field(default_factory=list)
    cold: bool = False


EXPERIMENTS = [
    Experiment("fsdd-fast", "targets", "fsdd_fast", "train", cold=True),
    Experiment("fsdd-fast-bf16", "targets", "fsdd_fast", "train", ["train.precision=bf16-mixed", "train.epochs=10"],
               cold=True),
    Experiment("fsdd", "targets", "fsdd", "train"),
    Experiment("fsdd-loso", "targets", "fsdd_loso", "cv"),
    Experiment("sc-test-5fold", "targets", "speech_commands_test", "cv"),
    Experiment("blog-mlp-waveform", "blog: raw wave vs spectrogram (FSDD LOSO)", "fsdd_loso_mlp_waveform", "cv"),
    Experiment("blog-cnn-spectrogram", "blog: raw wave vs spectrogram (FSDD LOSO)", "fsdd_loso_cnn_spectrogram", "cv"),
    Experiment("netdesigner-fc", "net designer: FFT+FC vs FFT+conv+FC (FSDD LOSO)", "fsdd_loso_fft_fc", "cv"),
    Experiment("netdesigner-conv", "net designer: FFT+FC vs FFT+conv+FC (FSDD LOSO)", "fsdd_loso_fftconv", "cv"),
    Experiment("family-cnn", "families at ~100k params (FSDD official)", "fsdd_cnn_100k", "train"),
    Experiment("family-lstm", "families at ~100k params (FSDD official)", "fsdd_lstm_100k", "train"),
    Experiment("family-transformer", "families at ~100k params (FSDD official)", "fsdd_transformer_100k", "train"),
    *[Experiment(f"sweep-{name}", "front-end sweep, CNN fixed (FSDD official)", "fsdd_cnn_100k", "train",
                 [f"design.frontend.0.{k}={v}" for k, v in changes.items()])
      for name, changes in {"mels64": {"n_mels": 64}, "mels80": {"n_mels": 80},
                            "win512-hop160": {"n_fft": 512, "hop_length": 160},
                            "hamming": {"window_fn": "hamming"}}.items()],
    Experiment("repr-power", "power vs mel vs complex (SC test set, fold 1 of 5)", "sc_test_cnn_power", "train"),
    Experiment("repr-mel", "power vs mel vs complex (SC test set, fold 1 of 5)", "sc_test_cnn_mel", "train"),
    Experiment("repr-complex", "power vs mel vs complex (SC test set, fold 1 of 5)", "sc_test_cnn_complex", "train"),
]


def run(experiment: Experiment, runs_dir: Path) -> dict:
    out = runs_dir / experiment.key
    command = [sys.executable, "-m", "sonogram", experiment.mode, experiment.recipe, "--out", str(out), "--json"]
    for override in experiment.overrides + ["train.progress=false"]:
        command += ["--set", override]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if experiment.cold:
            env["SONOGRAM_CACHE"] = cache
        start = time.perf_counter()
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{experiment.key} failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    row = {"key": experiment.key, "group": experiment.group, "recipe": experiment.recipe,
           "overrides": experiment.overrides, "mode": experiment.mode, "wall_seconds": round(wall, 1)}
    if experiment.mode == "cv":
        first = json.loads((out / report["folds"][0]["run"] / "metrics.json").read_text())
        row.update(protocol=f"{report['split']} ({len(report['folds'])} folds)",
                   accuracy=report["test_accuracy"]["mean"], accuracy_std=report["test_accuracy"]["std"],
                   worst_fold=report["test_accuracy"]["min"], macro_f1=report["test_macro_f1"]["mean"],
                   params=first["params"], train_seconds=report["train_seconds"])
    else:
        row.update(protocol=report["split"], accuracy=report["test"]["accuracy"], macro_f1=report["test"]["macro_f1"],
                   params=report["params"], train_seconds=report["train_seconds"], epochs=report["epochs"])
    return row


def load_results() -> dict:
    path = RESULTS / "accuracy.json"
    return json.loads(path.read_text()) if path.is_file() else {"rows": []}


def save_results(rows: list[dict]) -> None:
    order = {e.key: i for i, e in enumerate(EXPERIMENTS)}
    write_json("accuracy", sorted(rows, key=lambda r: order.get(r["key"], len(order))))


def show(rows: list[dict], markdown: bool = False) -> None:
    table = []
    for r in rows:
        accuracy = f"{100 * r['accuracy']:.2f}"
        if "accuracy_std" in r:
            accuracy += f" +- {100 * r['accuracy_std']:.2f} (worst {100 * r['worst_fold']:.1f})"
        table.append({"experiment": r["key"], "recipe": r["recipe"] + "".join(f" {o}" for o in r["overrides"]),
                      "protocol": r["protocol"], "test acc %": accuracy, "macro-F1": f"{r['macro_f1']:.4f}",
                      "params": f"{r['params']:,}", "train s": f"{r['train_seconds']:.0f}",
                      "wall s": f"{r['wall_seconds']:.0f}"})
    columns = ["experiment", "recipe", "protocol", "test acc %", "macro-F1", "params", "train s", "wall s"]
    if markdown:
        print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
        for row in table:
            print("| " + " | ".join(row[c] for c in columns) + " |")
    else:
        print_table(table, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("keys", nargs="*", help="experiments to run (default: all)")
    parser.add_argument("--table", action="store_true", help="only print the recorded results")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    parser.add_argument("--runs", default=str(REPO / "runs" / "benchmarks"), help="where the run folders go")
    args = parser.parse_args()
    known = {e.key: e for e in EXPERIMENTS}
    unknown = [k for k in args.keys if k not in known]
    if unknown:
        parser.error(f"unknown experiment(s) {', '.join(unknown)}; valid: {', '.join(known)}")
    recorded = {r["key"]: r for r in load_results()["rows"]}
    if not args.table:
        for key in args.keys or list(known):
            print(f"running {key} ...", flush=True)
            recorded[key] = run(known[key], Path(args.runs))
            save_results(list(recorded.values()))
            print(f"  test accuracy {recorded[key]['accuracy']:.4f} in {recorded[key]['wall_seconds']:.0f} s",
                  flush=True)
    show([recorded[e.key] for e in EXPERIMENTS if e.key in recorded], args.markdown)
    print(f"\nresults: {RESULTS / 'accuracy.json'}")


if __name__ == "__main__":
    main()
