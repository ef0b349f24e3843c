"""Training with Lightning: the module, its callbacks, and one run folder per training.

A run folder (the contract in DESIGN.md) holds ``config.yaml``, ``labels.json``, ``model.pt`` (best
validation macro-F1), ``metrics.json``, ``history.csv``, ``tensorboard/`` and, while training,
``checkpoints/last.ckpt`` for ``--resume``. Every file is written to a temporary name and renamed,
so a crash or Ctrl-C never leaves a half-written one. Only inference code (``checkpoint.py``,
``infer.py``) reads ``model.pt``; it never imports Lightning.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import signal
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torchmetrics
import yaml
from lightning.pytorch.callbacks import Callback, EarlyStopping, RichProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from sonogram.features import layers as fe
from sonogram.atomic import atomic_write
from sonogram.data.augment import WaveformAugment, load_noise_bank
from sonogram.network.checkpoint import load_checkpoint, save_checkpoint
from sonogram.config import load_yaml, to_dict
from sonogram.data import Corpus, resolve_data_root
from sonogram.data.loaders import FoldData, eval_loader, load_corpus, prepare_fold, train_loader
from sonogram.network.design import Network, build_network, count_params
from sonogram.errors import ConfigError, Interrupted
from sonogram.evaluate import part_metrics
from sonogram.recipe import Recipe, recipe_from_dict

log = logging.getLogger(__name__)

HISTORY_FIELDS = ["epoch", "train_loss", "train_accuracy", "train_macro_f1", "val_loss", "val_accuracy",
                  "val_macro_f1", "lr", "seconds"]


def write_atomic(path: Path, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def write_json(path: Path, data) -> None:
    write_atomic(path, json.dumps(data, indent=2) + "\n")


class Classifier(L.LightningModule):
    """A :class:`Network` trained with cross-entropy; augmentation runs on CPU batches before transfer."""

    def __init__(self, network: Network, recipe: Recipe, augment: WaveformAugment | None = None):
        super().__init__()
        self.network, self.recipe, self.augment = network, recipe, augment
        self.lr = recipe.optim.lr
        classes = network.design.num_classes
        self.train_accuracy = torchmetrics.classification.MulticlassAccuracy(classes, average="micro")
        self.train_f1 = torchmetrics.classification.MulticlassF1Score(classes, average="macro")
        self.val_accuracy = torchmetrics.classification.MulticlassAccuracy(classes, average="micro")
        self.val_f1 = torchmetrics.classification.MulticlassF1Score(classes, average="macro")
        self.generator = torch.Generator().manual_seed(recipe.seed)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.network(waveform)

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer is not None and self.trainer.training and self.augment is not None and self.augment.active:
            waveform, target = batch
            return self.augment(waveform, self.generator), target
        return batch

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        waveform, target = batch
        logits = self.network(waveform)
        loss = torch.nn.functional.cross_entropy(logits, target, label_smoothing=self.recipe.optim.label_smoothing)
        self.train_accuracy(logits, target)
        self.train_f1(logits, target)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True)
        self.log("train_accuracy", self.train_accuracy, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train_macro_f1", self.train_f1, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        waveform, target = batch
        logits = self.network(waveform)
        self.val_accuracy(logits, target)
        self.val_f1(logits, target)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, target), on_epoch=True, sync_dist=True)
        self.log("val_accuracy", self.val_accuracy, on_epoch=True, prog_bar=True)
        self.log("val_macro_f1", self.val_f1, on_epoch=True, prog_bar=True)

    def configure_optimizers(self):
        optim = self.recipe.optim
        decay, no_decay = [], []
        for name, p in self.network.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim <= 1 or name.startswith("frontend") else decay).append(p)
        groups = [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if optim.name == "adamw":
            optimiser = torch.optim.AdamW(groups, lr=self.lr)
        else:
            optimiser = torch.optim.SGD(groups, lr=self.lr, momentum=optim.momentum, nesterov=True)
        schedule = self.recipe.schedule
        total = max(1, int(self.trainer.estimated_stepping_batches))
        if schedule.name == "constant":
            return optimiser
        if schedule.name == "onecycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=self.lr, total_steps=total,
                                                            pct_start=max(schedule.warmup, 1e-3))
        else:
            warmup = max(1, int(schedule.warmup * total))
            scheduler = torch.optim.lr_scheduler.SequentialLR(optimiser, [
                torch.optim.lr_scheduler.LinearLR(optimiser, start_factor=0.01, total_iters=warmup),
                torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, total - warmup)),
            ], milestones=[warmup])
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class RunFiles(Callback):
    """Keeps ``history.csv`` and the best ``model.pt`` up to date after every validated epoch.

    Its state (rows, best score, training seconds) is saved in ``last.ckpt``, so a resumed run
    continues the same history.
    """

    def __init__(self, run_dir: Path, labels: list[str], align: str):
        self.run_dir, self.labels, self.align = run_dir, labels, align
        self.rows: list[dict] = []
        self.best_f1, self.best_loss, self.best_epoch = -1.0, float("inf"), -1
        self.seconds = 0.0
        self._epoch_start = time.perf_counter()

    def on_train_epoch_start(self, trainer, module) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module: Classifier) -> None:
        if trainer.sanity_checking:
            return
        elapsed = time.perf_counter() - self._epoch_start
        self.seconds += elapsed
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row = {"epoch": trainer.current_epoch + 1,
               "train_loss": metrics.get("train_loss_epoch", float("nan")),
               "train_accuracy": metrics.get("train_accuracy", float("nan")),
               "train_macro_f1": metrics.get("train_macro_f1", float("nan")),
               "val_loss": metrics.get("val_loss", float("nan")),
               "val_accuracy": metrics.get("val_accuracy", float("nan")),
               "val_macro_f1": metrics.get("val_macro_f1", float("nan")),
               "lr": trainer.optimizers[0].param_groups[0]["lr"], "seconds": round(elapsed, 3)}
        self.rows.append(row)
        if not trainer.is_global_zero:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, HISTORY_FIELDS)
        writer.writeheader()
        writer.writerows(self.rows)
        write_atomic(self.run_dir / "history.csv", buffer.getvalue())
        f1, loss = row["val_macro_f1"], row["val_loss"]
        if f1 > self.best_f1 or (f1 == self.best_f1 and loss < self.best_loss):
            self.best_f1, self.best_loss, self.best_epoch = f1, loss, row["epoch"]
            save_checkpoint(self.run_dir / "model.pt", module.network, self.labels, epoch=row["epoch"],
                            val_macro_f1=f1, val_loss=loss, align=self.align)

    def state_dict(self) -> dict:
        return {"rows": self.rows, "best_f1": self.best_f1, "best_loss": self.best_loss,
                "best_epoch": self.best_epoch, "seconds": self.seconds}

    def load_state_dict(self, state: dict) -> None:
        self.rows, self.best_f1, self.best_loss = state["rows"], state["best_f1"], state["best_loss"]
        self.best_epoch, self.seconds = state["best_epoch"], state["seconds"]


class ProgressBar(RichProgressBar):
    """Rich progress with loss and accuracy, without the logger's version number."""

    def get_metrics(self, trainer, module) -> dict:
        metrics = super().get_metrics(trainer, module)
        metrics.pop("v_num", None)
        return metrics


class LastCheckpoint(Callback):
    """Writes ``checkpoints/last.ckpt`` (weights, optimiser, schedule, callbacks) atomically each epoch."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_epoch_end(self, trainer, module) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp, weights_only=False)
        if trainer.is_global_zero:
            os.replace(tmp, self.path)


@torch.no_grad()
def fit_global_normalizers(network: Network, waveforms: np.ndarray, max_clips: int = 4096) -> None:
    """Fit every ``Normalize(mode="global")`` front-end layer on (up to ``max_clips``) training clips."""
    layers = list(network.frontend)
    for i, layer in enumerate(layers):
        if isinstance(layer, fe.Normalize) and layer.mode == "global":
            before = torch.nn.Sequential(*layers[:i]).eval()
            clips = torch.as_tensor(np.asarray(waveforms[:max_clips], dtype=np.float32))
            layer.fit(torch.cat([before(batch) for batch in clips.split(256)]))


def _loggers_and_callbacks(recipe: Recipe, run_dir: Path, labels: list[str]):
    files = RunFiles(run_dir, labels, recipe.dataset.align)
    callbacks: list[Callback] = [files, EarlyStopping("val_macro_f1", mode="max", patience=recipe.train.patience)]
    if recipe.train.progress:
        callbacks.append(ProgressBar(leave=True))
    callbacks.append(LastCheckpoint(run_dir / "checkpoints" / "last.ckpt"))
    logger = TensorBoardLogger(str(run_dir), name="", version="tensorboard", default_hp_metric=False)
    return files, callbacks, logger


def make_trainer(recipe: Recipe, callbacks: list[Callback], logger, **extra) -> L.Trainer:
    t = recipe.train
    return L.Trainer(max_epochs=t.epochs, accelerator=t.accelerator, devices=t.devices,
                     strategy=t.strategy, num_nodes=t.num_nodes, precision=t.precision, callbacks=callbacks,
                     logger=logger, gradient_clip_val=t.gradient_clip, deterministic="warn",
                     enable_progress_bar=t.progress, enable_model_summary=False, num_sanity_val_steps=0,
                     log_every_n_steps=5, **extra)


def build_classifier(recipe: Recipe, data: FoldData) -> Classifier:
    network = build_network(recipe.design)
    fit_global_normalizers(network, data.part("train")[0])
    noise = None
    if recipe.augment.noise_dir:  # a relative folder is inside the data root
        folder = resolve_data_root(recipe.dataset.data_root) / recipe.augment.noise_dir
        noise = load_noise_bank(folder, recipe.design.sample_rate)
    return Classifier(network, recipe, WaveformAugment(recipe.augment, recipe.design.sample_rate, noise))


def start_run_folder(run_dir: Path, recipe: Recipe, labels: list[str]) -> None:
    """Create a new run folder; refuses one that already holds files (never overwrites a run).

    Under DDP every process runs this code; only global rank 0 (the one the user started) writes.
    """
    if rank_zero_only.rank != 0:
        return
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir} already holds a run; pick another --out, or continue it with --resume {run_dir}")
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / "config.yaml", yaml.safe_dump(to_dict(recipe), sort_keys=False))
    write_json(run_dir / "labels.json", labels)


def train_run(recipe: Recipe, run_dir: Path, fold: int | None = None, resume: bool = False,
              corpus: Corpus | None = None) -> dict | None:
    """Train one fold into ``run_dir`` (or continue it) and evaluate it; returns ``metrics.json``'s content.

    ``corpus`` saves loading the dataset again when the caller (``cv``) already has it.
    Returns ``None`` on non-zero DDP ranks. Raises :class:`Interrupted` after Ctrl-C (the folder stays resumable).
    """
    run_dir = Path(run_dir)
    L.seed_everything(recipe.seed, workers=True, verbose=False)
    data = prepare_fold(recipe, fold, corpus or load_corpus(recipe))
    last = run_dir / "checkpoints" / "last.ckpt"
    if resume:
        if (run_dir / "metrics.json").is_file():
            log.info("%s is already finished", run_dir)
            return json.loads((run_dir / "metrics.json").read_text())
    else:
        start_run_folder(run_dir, recipe, data.labels)
    module = build_classifier(recipe, data)
    files, callbacks, logger = _loggers_and_callbacks(recipe, run_dir, data.labels)
    trainer = make_trainer(recipe, callbacks, logger)
    batch = recipe.train.batch_size
    try:
        trainer.fit(module, train_loader(data, batch, recipe.seed, recipe.train.num_workers),
                    eval_loader(data, "val", batch, recipe.train.num_workers),
                    ckpt_path=str(last) if resume and last.is_file() else None)
    except SystemExit:  # Lightning's answer to Ctrl-C, after a graceful shutdown
        if not trainer.interrupted:
            raise
    if trainer.interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise Interrupted(f"training interrupted; continue with: sonogram train --resume {run_dir}")
    if not trainer.is_global_zero:
        return None
    return finish_run(run_dir, recipe, data, files, trainer)


def finish_run(run_dir: Path, recipe: Recipe, data: FoldData, files: RunFiles, trainer: L.Trainer) -> dict:
    """Evaluate the best ``model.pt`` on every part and write ``metrics.json``."""
    network, checkpoint = load_checkpoint(run_dir / "model.pt")
    metrics = part_metrics(network, data, device=trainer.strategy.root_device)
    metrics.update({
        "params": count_params(network), "train_seconds": round(files.seconds, 2),
        "epochs": len(files.rows), "best_epoch": checkpoint["epoch"], "recipe": recipe.name,
        "dataset": recipe.dataset.name, "split": recipe.dataset.split, "fold": data.split.name,
        "device": str(trainer.strategy.root_device), "devices": trainer.world_size,
    })
    write_json(run_dir / "metrics.json", metrics)
    (run_dir / "checkpoints" / "last.ckpt").unlink(missing_ok=True)
    from sonogram.reports.report import write_report

    write_report([run_dir])
    return metrics


def load_run_recipe(run_dir: str | Path) -> Recipe:
    """The resolved recipe saved in a run folder."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: not a run folder (no config.yaml)")
    return recipe_from_dict(load_yaml(path))
