"""The learning-rate range test (Smith, 2017) with Lightning's tuner: loss against an exponentially growing rate."""

from __future__ import annotations

import tempfile
from pathlib import Path

import lightning as L
import matplotlib

from sonogram.data.loaders import eval_loader, prepare_fold, train_loader
from sonogram.errors import ConfigError
from sonogram.recipe import Recipe
from sonogram.engine.train import build_classifier, make_trainer

matplotlib.use("Agg")


def find_learning_rate(recipe: Recipe, plot_path: Path, min_lr: float = 1e-6, max_lr: float = 1.0,
                       steps: int = 100) -> float:
    """Run the sweep on the recipe's training fold, save the plot to ``plot_path`` and return the suggestion."""
    from lightning.pytorch.tuner import Tuner

    if not 0 < min_lr < max_lr:
        raise ConfigError(f"need 0 < --min-lr < --max-lr, got {min_lr} and {max_lr}")
    L.seed_everything(recipe.seed, workers=True, verbose=False)
    data = prepare_fold(recipe)
    module = build_classifier(recipe, data)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = make_trainer(recipe, callbacks=[], logger=False, default_root_dir=scratch)
        finder = Tuner(trainer).lr_find(
            module, train_dataloaders=train_loader(data, recipe.train.batch_size, recipe.seed),
            val_dataloaders=eval_loader(data, "val", recipe.train.batch_size),
            min_lr=min_lr, max_lr=max_lr, num_training=steps, update_attr=False)
    suggestion = finder.suggestion()
    if suggestion is None:
        raise ConfigError("the sweep was too short to suggest a rate; raise --steps")
    figure = finder.plot(suggest=True)
    figure.axes[0].set_title(f"{recipe.name}: suggested lr {suggestion:.3g}")
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(plot_path, dpi=120, bbox_inches="tight")
    return float(suggestion)
