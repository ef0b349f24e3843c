"""The parts a design is made of, for a door that edits designs: each front-end layer's and model's keys,
the bundled designs as presets, and designs to and from the YAML that ``sonogram design show`` reads."""

from __future__ import annotations

import inspect
from pathlib import Path

import yaml

from sonogram.config import to_dict
from sonogram.errors import ConfigError
from sonogram.models import MODELS
from sonogram.network.design import DesignConfig, load_design
from sonogram.network.frontend import FRONTENDS
from sonogram.recipe import RECIPES_DIR

DESIGNS_DIR = RECIPES_DIR / "designs"
NET_DESIGNER = "fftconv"  # the net-designer's FFT + convolution + fully connected net

# Arguments a new node starts with where its layer has no default for them.
_REQUIRED_START = {"decimate": {"rate": 2}, "crop": {"num_samples": 8000},
                   "fuse": {"branches": [[{"name": "log_mel", "n_mels": 40}], [{"name": "mfcc", "n_mfcc": 13}]]}}


def frontend_keys(name: str) -> list[str]:
    """The keys a design may give front-end layer ``name``."""
    if name not in FRONTENDS:
        raise ConfigError(f"unknown front-end {name!r}; valid: {', '.join(FRONTENDS)}")
    return FRONTENDS[name].argument_names()


def frontend_defaults(name: str) -> dict:
    """``{key: default}`` for the keys of ``name`` whose constructor states a default."""
    keys = frontend_keys(name)
    params = inspect.signature(FRONTENDS[name]).parameters
    return {k: params[k].default for k in keys if k in params and params[k].default is not inspect.Parameter.empty}


def model_defaults(name: str) -> dict:
    """``{key: default}`` of model ``name``'s config, in declaration order."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    return to_dict(MODELS[name][0]())


def new_frontend(name: str) -> dict:
    """A design entry for a freshly added front-end layer: its name and any argument it cannot do without."""
    frontend_keys(name)
    return {"name": name, **_REQUIRED_START.get(name, {})}


def new_model(name: str) -> dict:
    """A design entry for model ``name`` with its defaults written out."""
    return {"name": name, **model_defaults(name)}


def presets() -> list[str]:
    """Names of the bundled designs (``recipes/designs/*.yaml``)."""
    return sorted(p.stem for p in DESIGNS_DIR.glob("*.yaml"))


def preset(name: str) -> dict:
    """A bundled design as plain data."""
    path = DESIGNS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"no bundled design {name!r}; valid: {', '.join(presets())}")
    return to_dict(load_design(path))


def design_yaml(design: dict | DesignConfig) -> str:
    """The YAML of a design, as ``sonogram design show`` reads it."""
    data = to_dict(design) if isinstance(design, DesignConfig) else design
    return yaml.safe_dump(data, sort_keys=False)


def read_design(path: str | Path) -> dict:
    """A design (or a recipe's design section) from a YAML file, as plain data; bad YAML is a ConfigError."""
    return to_dict(load_design(path))
