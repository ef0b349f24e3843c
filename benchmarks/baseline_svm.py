"""The classic baseline, measured on the same splits: MFCC statistics + an RBF support vector machine.

    python benchmarks/baseline_svm.py

Per clip: 20 librosa MFCCs (plus deltas) over the same padded/cut waveform the networks see,
summarised by their mean and standard deviation over frames; standardised; `SVC(C=10, rbf)`.
Prints a table and writes benchmarks/results/baseline_svm.json.
"""

from __future__ import annotations

import os
import time

import librosa
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from common import print_table, write_json
from sonogram.data import WaveformSpec, build_cache, load_dataset

DATA = os.environ.get("SONOGRAM_DATA")
TASKS = [  # (name, dataset, split, sample rate, samples, n_fft, hop)
    ("FSDD official", "fsdd", "official", 8000, 6000, 256, 80),
    ("FSDD leave-one-speaker-out (loso_pooled)", "fsdd", "loso_pooled", 8000, 6000, 256, 80),
    ("Speech Commands test set, 5-fold", "speech_commands_test", "kfold", 16000, 16000, 480, 160),
]


def features(waveforms: np.ndarray, rate: int, n_fft: int, hop: int) -> np.ndarray:
    """``(clips, 80)``: mean and std over frames of 20 MFCCs and their deltas."""
    rows = []
    for clip in waveforms:
        mfcc = librosa.feature.mfcc(y=np.asarray(clip), sr=rate, n_mfcc=20, n_fft=n_fft, hop_length=hop, n_mels=40)
        both = np.concatenate([mfcc, librosa.feature.delta(mfcc)])
        rows.append(np.concatenate([both.mean(axis=1), both.std(axis=1)]))
    return np.stack(rows)


def main() -> None:
    rows = []
    for name, dataset, split, rate, samples, n_fft, hop in TASKS:
        corpus = load_dataset(dataset, DATA)
        start = time.perf_counter()
        x = features(build_cache(corpus, WaveformSpec(rate, samples)), rate, n_fft, hop)
        extract = time.perf_counter() - start
        accuracies = []
        for fold in corpus.splits(split, seed=0):
            train = np.concatenate([fold.train, fold.val])  # an SVM has no early stopping: train on both
            model = make_pipeline(StandardScaler(), SVC(C=10.0, kernel="rbf"))
            model.fit(x[train], corpus.targets[train])
            accuracies.append(float((model.predict(x[fold.test]) == corpus.targets[fold.test]).mean()))
        rows.append({"task": name, "folds": len(accuracies), "accuracy": float(np.mean(accuracies)),
                     "std": float(np.std(accuracies)), "worst": float(np.min(accuracies)),
                     "per_fold": accuracies, "seconds": round(time.perf_counter() - start, 1),
                     "feature_seconds": round(extract, 1)})
        print(f"{name}: {100 * rows[-1]['accuracy']:.2f}%", flush=True)
    print_table([{**r, "accuracy": f"{100 * r['accuracy']:.2f}", "std": f"{100 * r['std']:.2f}",
                  "worst": f"{100 * r['worst']:.1f}"} for r in rows],
                ["task", "folds", "accuracy", "std", "worst", "seconds"])
    write_json("baseline_svm", rows)


if __name__ == "__main__":
    main()
