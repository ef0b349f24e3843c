"""The learning-rate range test (Smith, 2017) with Lightning's tuner: loss against an exponentially growing rate.

The suggestion is the rate of the lowest smoothed loss divided by ten (the rule fastai popularised),
looking past the first tenth of the sweep, where the running average has seen too few batches to be
trusted. Lightning's own suggestion (the steepest descent) lands on the noisy early plateau of short
sweeps: it picked 1.4e-5 for an FSDD recipe that trains well at 3e-3.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import lightning as L
import matplotlib
import numpy as np

from sonogram.data.loaders import eval_loader, prepare_fold, train_loader
from sonogram.errors import ConfigError
from sonogram.recipe import Recipe
from sonogram.engine.train import build_classifier, make_trainer, trained_inputs

matplotlib.use("Agg")


def find_learning_rate(recipe: Recipe, plot_path: Path, min_lr: float = 1e-6, max_lr: float = 1.0,
                       steps: int = 100) -> float:
    """Run the sweep on the recipe's training fold, save the plot to ``plot_path`` and return the suggestion."""
    from lightning.pytorch.tuner import Tuner

    if not (math.isfinite(min_lr) and math.isfinite(max_lr) and 0 < min_lr < max_lr):
        raise ConfigError(f"need 0 < --min-lr < --max-lr, got {min_lr} and {max_lr}")
    if steps < 10:
        raise ConfigError(f"--steps must be at least 10 for a usable sweep, got {steps}")
    L.seed_everything(recipe.seed, workers=True, verbose=False)
    data = prepare_fold(recipe)
    module = build_classifier(recipe, data)
    data = trained_inputs(module, data)
    loader = train_loader(data, recipe.train.batch_size, recipe.seed)
    sweep = copy.deepcopy(recipe)  # the sweep may need more epochs than training: it must not stop short
    sweep.train.epochs = max(recipe.train.epochs, math.ceil(steps / max(1, len(loader))) + 1)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = make_trainer(sweep, callbacks=[], logger=False, default_root_dir=scratch)
        finder = Tuner(trainer).lr_find(
            module, train_dataloaders=loader,
            val_dataloaders=eval_loader(data, "val", recipe.train.batch_size),
            min_lr=min_lr, max_lr=max_lr, num_training=steps, update_attr=False)
    suggestion = suggest(np.asarray(finder.results["lr"]), np.asarray(finder.results["loss"]))
    figure = finder.plot(suggest=False)
    axis = figure.axes[0]
    axis.axvline(suggestion, color="tab:red", linestyle="--", label=f"suggested {suggestion:.3g} (min loss / 10)")
    axis.legend()
    axis.set_title(f"{recipe.name}: suggested lr {suggestion:.3g}")
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(plot_path, dpi=120, bbox_inches="tight")
    return float(suggestion)


def suggest(lrs: np.ndarray, losses: np.ndarray) -> float:
    """A tenth of the rate at the lowest finite smoothed loss, ignoring the first tenth of the sweep.

    Example:
        >>> suggest(np.array([1e-5, 1e-4, 1e-3, 1e-2, 1e-1]), np.array([0.5, 2.3, 1.9, 1.2, np.nan]))
        0.001
    """
    skip = max(1, len(lrs) // 10)
    lrs, losses = lrs[skip:], losses[skip:]
    finite = np.isfinite(losses)
    if finite.sum() < 3:
        raise ConfigError("the sweep diverged at once; lower --min-lr or raise --steps")
    return float(lrs[finite][np.argmin(losses[finite])] / 10)
