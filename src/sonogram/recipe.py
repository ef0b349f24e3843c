"""Recipes: dataset + split + network design + optimiser + schedule + augmentation + seed, as typed YAML.

Example:
    >>> recipe = recipe_from_dict({"dataset": {"name": "fsdd", "split": "loso"}, "train": {"epochs": 5}})
    >>> recipe.dataset.split, recipe.train.epochs, recipe.optim.name
    ('loso', 5, 'adamw')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sonogram.data.augment import AugmentConfig
from sonogram.config import apply_overrides, bounded, from_dict, load_yaml
from sonogram.errors import ConfigError
from sonogram.network.design import DesignConfig

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


@dataclass
class DatasetConfig:
    """name: a dataset of ``sonogram datasets``; options: its loader options (e.g. ``task: "12"``);
    split: the split protocol; fold: which fold ``train`` uses (``cv`` runs them all)."""

    name: str = "fsdd"
    options: dict = field(default_factory=dict)
    split: str = "official"
    fold: int = bounded(0, 0)
    data_root: str | None = None


@dataclass
class OptimConfig:
    name: Literal["adamw", "sgd"] = "adamw"
    lr: float = bounded(3e-3, 0.0, 10.0, above=True)
    weight_decay: float = bounded(1e-2, 0.0)
    momentum: float = bounded(0.9, 0.0, 1.0, below=True)
    label_smoothing: float = bounded(0.0, 0.0, 1.0, below=True)


@dataclass
class ScheduleConfig:
    """onecycle (warm-up fraction ``warmup``), cosine (with linear warm-up) or constant."""

    name: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup: float = bounded(0.1, 0.0, 1.0, below=True)


MAX_DEVICES = 64  # devices a node: more processes than this only exhaust the machine


@dataclass
class TrainConfig:
    """Trainer settings. ``accelerator``/``devices``/``strategy``/``num_nodes``/``precision`` go to Lightning."""

    epochs: int = bounded(30, 1)
    batch_size: int = bounded(64, 1)
    patience: int = bounded(10, 1)
    accelerator: str = "auto"
    devices: int | str = bounded(1, -1, MAX_DEVICES)  # -1: all; Lightning starts a process per device
    strategy: str = "auto"
    num_nodes: int = bounded(1, 1)
    precision: str = "32-true"
    num_workers: int = bounded(0, 0, 64)  # more loader processes than this only exhaust the machine
    gradient_clip: float | None = bounded(5.0, 0.0, above=True)
    progress: bool = True

    def __post_init__(self) -> None:
        # Lightning reads a string of digits as a device count too, and lists every device before it checks any
        count = self.devices.strip() if isinstance(self.devices, str) else None
        if count and count.lstrip("-").isdigit() and not -1 <= int(count) <= MAX_DEVICES:
            raise ConfigError(f"train.devices must be from -1 (all) to {MAX_DEVICES}, got {self.devices!r}")


@dataclass
class Recipe:
    name: str = "recipe"
    seed: int = bounded(0, 0, 2**32 - 1)  # numpy and Lightning take 32-bit seeds
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    design: DesignConfig = field(default_factory=DesignConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def recipe_from_dict(data: dict, overrides: list[str] = ()) -> Recipe:
    data = apply_overrides(data, list(overrides))
    dataset = data.get("dataset")
    if isinstance(dataset, dict) and "align" in dataset:  # runs of sonogram 0.1 kept it in the dataset section
        dataset = dict(dataset)
        design = dict(data.get("design") or {})
        design.setdefault("align", dataset.pop("align"))
        data = {**data, "dataset": dataset, "design": design}
    return from_dict(Recipe, data, "")


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    """A recipe from YAML (a path, or the name of a bundled recipe such as ``fsdd``) with ``--set`` overrides."""
    path = Path(path)
    if not path.exists() and (RECIPES_DIR / f"{path.name}.yaml").is_file() and len(path.parts) == 1:
        path = RECIPES_DIR / f"{path.name}.yaml"
    data = load_yaml(path)
    data.setdefault("name", path.stem)
    return recipe_from_dict(data, overrides)


def bundled_recipes() -> list[tuple[str, str]]:
    """``(name, first comment line)`` for each recipe shipped in ``recipes/``."""
    rows = []
    for path in sorted(RECIPES_DIR.glob("*.yaml")):
        first = path.read_text().splitlines()[:1]
        rows.append((path.stem, first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""))
    return rows
