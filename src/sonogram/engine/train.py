"""Training with Lightning: the module, its callbacks, and one run folder per training.

This package is the only place Lightning is imported. The run folder's files are named and written by
:mod:`sonogram.runs`; here they are filled: ``history.csv`` and the best ``model.pt`` after every
epoch, ``checkpoints/last.ckpt`` (weights, optimiser, schedule, callbacks and every random state, so a
resumed run is bit-identical to an uninterrupted one) and ``metrics.json`` at the end. Everything a
recipe can get wrong is checked before the folder is created.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torchmetrics
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, EarlyStopping
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from sonogram.atomic import write_error
from sonogram.config import to_dict
from sonogram.data import Corpus, resolve_data_root
from sonogram.data.augment import WaveformAugment, load_noise_bank
from sonogram.engine.embedding_cache import cached_inputs
from sonogram.data.loaders import FoldData, eval_loader, load_corpus, prepare_fold, train_loader
from sonogram.errors import ConfigError, Interrupted, RunError
from sonogram.evaluate import part_metrics
from sonogram.features import layers as fe
from sonogram.network.checkpoint import load_checkpoint, save_checkpoint
from sonogram.network.design import Network, build_network, count_params
from sonogram.recipe import Recipe
from sonogram.runs import Run, provenance

log = logging.getLogger(__name__)

# Lightning announces devices, tips and advertisements at INFO when imported; keep stderr to what matters.
for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.WARNING)

ProgressFn = Callable[[dict], None]

RECIPE_KEY = "sonogram_recipe"  # the resolved recipe, saved in last.ckpt so a resume can tell it was edited
TRAINED = "trained"  # in run.json once every epoch is done: a resume goes straight to the final evaluation
HARDWARE_KEYS = ("accelerator", "devices", "strategy", "num_nodes", "num_workers", "progress")
"""Where a run trains may change between sessions, not what it trains."""


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
        self.loader_generator: torch.Generator | None = None  # the train loader's shuffling generator
        self.cached_layers = 0  # batches hold the outputs of this many front-end layers (see trained_inputs)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Save every random state, so a resumed run draws exactly what an uninterrupted one would."""
        checkpoint[RECIPE_KEY] = to_dict(self.recipe)
        checkpoint["sonogram_rng"] = {
            "augment": self.generator.get_state(), "torch": torch.get_rng_state(),
            "numpy": _plain_numpy_state(np.random.get_state()), "python": random.getstate(),
            "loader": self.loader_generator.get_state() if self.loader_generator is not None else None,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        states = checkpoint.get("sonogram_rng")
        if states is None:
            return
        self.generator.set_state(states["augment"])
        torch.set_rng_state(states["torch"])
        kind, keys, position, has_gauss, cached = states["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
        random.setstate(states["python"])
        if states["loader"] is not None and self.loader_generator is not None:
            self.loader_generator.set_state(states["loader"])

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.network(waveform)

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer is not None and self.trainer.training and self.augment is not None and self.augment.active:
            waveform, target = batch
            return self.augment(waveform, self.generator), target
        return batch

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(batch, classes)`` from a batch of waveforms, or of cached front-end outputs."""
        return self.network.forward_from(inputs, self.cached_layers) if self.cached_layers else self.network(inputs)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        waveform, target = batch
        logits = self.logits(waveform)
        loss = torch.nn.functional.cross_entropy(logits, target, label_smoothing=self.recipe.optim.label_smoothing)
        # Accuracy and F1 accumulate every batch but are handed to Lightning once, on the epoch's last batch
        # (it computes them over every update at the epoch's end): logging metric objects every batch
        # cost 7-15% of an FSDD epoch in Lightning's bookkeeping.
        self.train_accuracy.update(logits, target)
        self.train_f1.update(logits, target)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True)
        if self.trainer.is_last_batch:
            self.log("train_accuracy", self.train_accuracy, on_step=False, on_epoch=True, prog_bar=True)
            self.log("train_macro_f1", self.train_f1, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        waveform, target = batch
        logits = self.logits(waveform)
        self.val_accuracy.update(logits, target)
        self.val_f1.update(logits, target)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, target), on_epoch=True, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self.log("val_accuracy", self.val_accuracy, prog_bar=True)
        self.log("val_macro_f1", self.val_f1, prog_bar=True)

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


def _plain_numpy_state(state: tuple) -> list:
    """numpy's global random state in plain types, so ``last.ckpt`` loads with ``weights_only=True``."""
    kind, keys, position, has_gauss, cached = state
    return [kind, keys.tolist(), int(position), int(has_gauss), float(cached)]


class RunFiles(Callback):
    """Keeps ``history.csv`` and the best ``model.pt`` up to date after every validated epoch.

    Its state (rows, best score, training seconds) is saved in ``last.ckpt``, so a resumed run
    continues the same history.
    """

    def __init__(self, run: Run, labels: list[str]):
        self.run, self.labels = run, labels
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
        if not np.isfinite(row["train_loss"]):
            raise ConfigError(f"training diverged: the loss is {row['train_loss']} in epoch {row['epoch']}; "
                              f"lower optim.lr (now {module.lr:g}) or set train.gradient_clip")
        self.rows.append(row)
        if not trainer.is_global_zero:
            return
        self.run.write_history(self.rows)
        f1, loss = row["val_macro_f1"], row["val_loss"]
        if f1 > self.best_f1 or (f1 == self.best_f1 and loss < self.best_loss):
            self.best_f1, self.best_loss, self.best_epoch = f1, loss, row["epoch"]
            save_checkpoint(self.run.model_path, module.network, self.labels, epoch=row["epoch"],
                            val_macro_f1=f1, val_loss=loss)

    def state_dict(self) -> dict:
        return {"rows": self.rows, "best_f1": self.best_f1, "best_loss": self.best_loss,
                "best_epoch": self.best_epoch, "seconds": self.seconds}

    def load_state_dict(self, state: dict) -> None:
        self.rows, self.best_f1, self.best_loss = state["rows"], state["best_f1"], state["best_loss"]
        self.best_epoch, self.seconds = state["best_epoch"], state["seconds"]


class EpochEvents(Callback):
    """Hands each finished epoch's row of ``history.csv`` to ``progress`` and honours a stop request.

    A stop takes effect at the end of the epoch in which it is asked for, after that epoch's
    checkpoint is written, so the run can be resumed exactly where it stopped.
    """

    def __init__(self, files: RunFiles, epochs: int, fold: str, progress: ProgressFn | None,
                 stop: threading.Event | None):
        self.files, self.epochs, self.fold, self.progress, self.stop = files, epochs, fold, progress, stop
        self.stopped = False

    def on_train_epoch_end(self, trainer, module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if self.progress is not None and self.files.rows:
            self.progress({"event": "epoch", "fold": self.fold, "epochs": self.epochs, **self.files.rows[-1]})
        if self.stop is not None and self.stop.is_set():
            self.stopped = trainer.should_stop = True


class LastCheckpoint(Callback):
    """Writes ``checkpoints/last.ckpt`` (weights, optimiser, schedule, callbacks) atomically each epoch."""

    def __init__(self, run: Run):
        self.path, self.partial = run.last_checkpoint, run.partial_checkpoint

    def on_train_epoch_end(self, trainer, module) -> None:
        tmp = self.partial
        try:
            trainer.save_checkpoint(tmp, weights_only=False)
        except (OSError, RuntimeError) as exc:  # torch reports a full disk as either
            # The previous checkpoint has the same structure, so about the same size; else more than got written.
            needed = (f"about {self.path.stat().st_size:,} bytes" if self.path.is_file() else
                      f"more than {tmp.stat().st_size if tmp.is_file() else 0:,} bytes")
            if trainer.is_global_zero:
                tmp.unlink(missing_ok=True)
            raise write_error(self.path, exc, needed) from None
        if trainer.is_global_zero:
            os.replace(tmp, self.path)


def _what_it_trains(config: dict) -> dict:
    config = copy.deepcopy(config)
    for key in HARDWARE_KEYS:
        config.get("train", {}).pop(key, None)
    config.get("dataset", {}).pop("data_root", None)  # the same data may live elsewhere on another machine
    return config


def _changed_keys(old, new, where: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [k for key in sorted(old.keys() | new.keys(), key=str)
                for k in _changed_keys(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))]
    return [] if old == new else [where]


def read_last_checkpoint(run: Run, recipe: Recipe) -> dict:
    """``checkpoints/last.ckpt`` (plain data only), after checking it is whole and was written for ``recipe``."""
    path = run.last_checkpoint
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torn, truncated or foreign bytes fail in many ways; all mean one thing
        raise RunError(f"{path}: damaged ({type(exc).__name__}), the run cannot be resumed from it; "
                       f"train again into a new folder") from None
    if not isinstance(checkpoint, dict) or not {"state_dict", "callbacks", "loops"} <= checkpoint.keys():
        raise RunError(f"{path}: damaged (not a training checkpoint), the run cannot be resumed from it; "
                       f"train again into a new folder")
    if RECIPE_KEY in checkpoint:
        changed = _changed_keys(_what_it_trains(checkpoint[RECIPE_KEY]), _what_it_trains(to_dict(recipe)))
        if changed:
            raise RunError(f"{run.config_path}: the recipe changed since the checkpoint ({', '.join(changed[:4])}); "
                           f"put it back as it was to resume, or train the new recipe into a new folder")
    return checkpoint


@torch.no_grad()
def fit_global_normalizers(network: Network, data: FoldData, max_clips: int = 4096) -> None:
    """Fit every ``Normalize(mode="global")`` front-end layer on (up to ``max_clips``) training clips. Frozen
    leading layers (a pretrained embedding) are read from the embedding cache, computed once per clip."""
    start = network.cacheable_layers
    inputs = cached_inputs(network, data.waveforms) if start else data.waveforms
    train = np.sort(data.split.parts()["train"])[:max_clips]
    layers = list(network.frontend)
    for i, layer in enumerate(layers):
        if isinstance(layer, fe.Normalize) and layer.mode == "global":
            before = torch.nn.Sequential(*layers[start:i]).eval()
            clips = torch.as_tensor(np.asarray(inputs[train], dtype=np.float32))
            layer.fit(torch.cat([before(batch) for batch in clips.split(256)]))


def _loggers_and_callbacks(recipe: Recipe, run: Run, labels: list[str], fold: str, progress: ProgressFn | None,
                           stop: threading.Event | None):
    files = RunFiles(run, labels)
    events = EpochEvents(files, recipe.train.epochs, fold, progress, stop)
    callbacks: list[Callback] = [files, EarlyStopping("val_macro_f1", mode="max", patience=recipe.train.patience),
                                 LastCheckpoint(run), events]
    logger = TensorBoardLogger(str(run.path), name="", version=run.tensorboard_dir.name, default_hp_metric=False)
    return files, events, callbacks, logger


def make_trainer(recipe: Recipe, callbacks: list[Callback], logger, **extra) -> L.Trainer:
    """A Lightning trainer for the recipe; an impossible accelerator, device count or precision is a ConfigError."""
    t = recipe.train
    try:
        return L.Trainer(max_epochs=t.epochs, accelerator=t.accelerator, devices=t.devices,
                         strategy=t.strategy, num_nodes=t.num_nodes, precision=t.precision, callbacks=callbacks,
                         logger=logger, gradient_clip_val=t.gradient_clip, deterministic="warn",
                         enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                         num_sanity_val_steps=0, log_every_n_steps=5, **extra)
    except (MisconfigurationException, ValueError, RuntimeError, TypeError, OverflowError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"train (accelerator={t.accelerator!r}, devices={t.devices!r}, strategy={t.strategy!r}, "
                          f"precision={t.precision!r}): {first}") from None


def build_classifier(recipe: Recipe, data: FoldData) -> Classifier:
    network = build_network(recipe.design)
    fit_global_normalizers(network, data)
    noise = None
    if recipe.augment.noise_dir:  # a relative folder is inside the data root
        folder = resolve_data_root(recipe.dataset.data_root) / recipe.augment.noise_dir
        noise = load_noise_bank(folder, recipe.design.sample_rate)
    return Classifier(network, recipe, WaveformAugment(recipe.augment, recipe.design.sample_rate, noise))


def trained_inputs(module: Classifier, data: FoldData) -> FoldData:
    """What the network trains on: ``data`` itself, or, when its leading front-end layers are frozen
    (``Network.cacheable_layers``) and no augmentation changes the waveforms, their outputs computed once
    per clip (:mod:`sonogram.engine.embedding_cache`). Sets ``module.cached_layers`` to match."""
    start = module.network.cacheable_layers
    if not start or (module.augment is not None and module.augment.active):
        module.cached_layers = 0
        return data
    module.cached_layers = start
    return dataclasses.replace(data, waveforms=cached_inputs(module.network, data.waveforms))


def train_run(recipe: Recipe, run_dir: str | Path, fold: int | None = None, resume: bool = False,
              corpus: Corpus | None = None, progress: ProgressFn | None = None,
              stop: threading.Event | None = None, command: str | None = None) -> dict | None:
    """Train one fold into ``run_dir`` (or continue it) and evaluate it; returns ``metrics.json``'s content.

    ``corpus`` saves loading the dataset again when the caller (``cv``) already has it. ``progress``
    receives one event per finished epoch, then ``{"event": "evaluating", "fold"}`` once training is done;
    setting ``stop`` ends training after the current epoch (or, set after the last epoch but before that
    event, before the final evaluation).
    Returns ``None`` on non-zero DDP ranks. Raises :class:`Interrupted` after Ctrl-C or a stop (the
    folder stays resumable). Nothing is written before the whole recipe has been checked.
    """
    run = Run(run_dir)
    if resume:
        if run.state == "finished":
            log.info("%s is already finished", run.path)
            return run.metrics()
        if run.state != "resumable":
            raise RunError(f"{run.path}: nothing to resume (no checkpoint of a finished epoch); start it anew")
        if rank_zero_only.rank == 0:
            run.remove_orphans()
    elif rank_zero_only.rank == 0:
        run.check_free()
    L.seed_everything(recipe.seed, workers=True, verbose=False)
    data = prepare_fold(recipe, fold, corpus or load_corpus(recipe))
    checkpoint = read_last_checkpoint(run, recipe) if resume else None
    module = build_classifier(recipe, data)
    files, events, callbacks, logger = _loggers_and_callbacks(recipe, run, data.labels, data.split.name,
                                                              progress, stop)
    trainer = make_trainer(recipe, callbacks, logger)
    inputs = trained_inputs(module, data)
    if checkpoint is not None and run.provenance().get(TRAINED):  # only the final evaluation was interrupted
        files.load_state_dict(checkpoint["callbacks"][files.state_key])
        return _finish_or_interrupt(run, recipe, inputs, module.cached_layers, files, trainer, progress, stop)
    loader = train_loader(inputs, recipe.train.batch_size, recipe.seed, recipe.train.num_workers)
    module.loader_generator = loader.generator
    if not resume and rank_zero_only.rank == 0:
        run.create(to_dict(recipe), data.labels, {**provenance(command), "fold": data.split.name,
                                                  **data.fingerprints()})
    try:
        trainer.fit(module, loader, eval_loader(inputs, "val", recipe.train.batch_size, recipe.train.num_workers),
                    ckpt_path=str(run.last_checkpoint) if resume else None)
    except SystemExit:  # Lightning's answer to Ctrl-C, after a graceful shutdown
        if not trainer.interrupted:
            raise
    except Exception as exc:
        # the logger's files (TensorBoard) are written by Lightning: name the file, or at least the folder
        error = write_error(exc.filename or run.path, exc) if isinstance(exc, OSError) else None
        if not resume and rank_zero_only.rank == 0 and not run.last_checkpoint.is_file():
            shutil.rmtree(run.path, ignore_errors=True)  # nothing to resume: leave --out free, not a stub
        if error is None:
            raise
        raise error from None
    if trainer.interrupted or events.stopped:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)
        raise Interrupted(f"training stopped after epoch {len(files.rows)}; "
                          f"continue with: sonogram train --resume {run.path}")
    if not trainer.is_global_zero:
        return None
    run.update_provenance(**{TRAINED: True})
    return _finish_or_interrupt(run, recipe, inputs, module.cached_layers, files, trainer, progress, stop)


def _finish_or_interrupt(run: Run, recipe: Recipe, data: FoldData, start: int, files: RunFiles, trainer: L.Trainer,
                         progress: ProgressFn | None, stop: threading.Event | None) -> dict:
    """The final evaluation of a trained run (on ``data`` as it trained: waveforms, or with ``start`` > 0 the
    cached outputs of that many front-end layers). It announces itself first: a stop asked for before that
    announcement (after the last epoch's check) still interrupts here, one asked for after it cannot."""
    if progress is not None:
        progress({"event": "evaluating", "fold": data.split.name})
    if stop is not None and stop.is_set():
        raise Interrupted(f"stopped after the last epoch, before the final evaluation (training is done); "
                          f"finish it with: sonogram train --resume {run.path}")
    try:
        return finish_run(run, recipe, data, files, trainer, start)
    except KeyboardInterrupt:
        raise Interrupted(f"stopped during the final evaluation (training is done); "
                          f"finish it with: sonogram train --resume {run.path}") from None


def finish_run(run: Run, recipe: Recipe, data: FoldData, files: RunFiles, trainer: L.Trainer, start: int = 0) -> dict:
    """Evaluate the best ``model.pt`` on every part and write ``metrics.json``. ``start`` > 0: ``data`` holds
    the cached outputs of the first ``start`` front-end layers, frozen, so the same in every epoch's model."""
    if not run.model_path.is_file():
        raise RunError(f"{run.path}: training ended without a model (no epoch was validated)")
    network, checkpoint = load_checkpoint(run.model_path)
    metrics = part_metrics(network, data, device=trainer.strategy.root_device, start=start)
    metrics.update({
        "params": count_params(network), "train_seconds": round(files.seconds, 2),
        "epochs": len(files.rows), "best_epoch": checkpoint["epoch"], "recipe": recipe.name,
        "dataset": recipe.dataset.name, "split": recipe.dataset.split, "fold": data.split.name,
        "device": str(trainer.strategy.root_device), "devices": trainer.world_size,
    })
    run.finish(metrics, str(trainer.strategy.root_device))
    return metrics
