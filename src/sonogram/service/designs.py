"""Describe a network design for a door: its layers with shapes and parameter counts, its frame
geometry, and what is wrong with it as data (``errors``), never only as an exception."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sonogram.config import apply_overrides, from_dict, to_dict
from sonogram.errors import ConfigError
from sonogram.network.design import (DesignConfig, build_network, count_params, load_design, match_budget,
                                     summary_rows)

_KEY = re.compile(r"^(?:unknown key )?'?((?:frontend\.\d+|model|design|sample_rate|num_samples|num_classes|align)"
                  r"(?:\.[A-Za-z_]\w*)?)'?")


@dataclass
class DesignDescription:
    """What a door shows of a design. ``errors`` is empty when the design builds."""

    design: dict
    rows: list[dict] = field(default_factory=list)
    params: int = 0
    trainable: int = 0
    feature_shape: list[int] | None = None
    errors: list[dict] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


def error_entry(message: str) -> dict:
    """``{"key", "message"}``: the design key a builder message names (``frontend.2``, ``model.nhead``, ...)."""
    match = _KEY.match(message)
    key = match.group(1).removeprefix("design.") if match else ""
    if not key:
        found = re.search(r"\b(frontend\.\d+(?:\.\w+)?|model\.\w+)", message)
        key = found.group(1) if found else "design"
    return {"key": key, "message": message}


def describe_design(design: DesignConfig | dict | str | Path, overrides: list[str] = (),
                    budget: int | None = None, scale: str | None = None) -> DesignDescription:
    """Build a design (a config, plain data, or a YAML design or recipe) and describe it.

    Every problem comes back in ``errors`` with the key it concerns; nothing is raised for an invalid design.
    """
    try:
        if isinstance(design, (str, Path)):
            config = load_design(design, overrides)
        else:
            data = design if isinstance(design, dict) else to_dict(design)
            config = from_dict(DesignConfig, apply_overrides(data, list(overrides)), "design")
        if (budget is None) != (scale is None):
            raise ConfigError("--budget and --scale go together")
        if budget is not None:
            config, _ = match_budget(config, budget, scale)
    except ConfigError as exc:
        return DesignDescription(design=design if isinstance(design, dict) else {}, errors=[error_entry(str(exc))])
    try:
        network = build_network(config)
    except ConfigError as exc:
        return DesignDescription(design=to_dict(config), errors=[error_entry(str(exc))])
    rows = summary_rows(network)
    for row, layer in zip(rows, network.frontend):
        geometry = layer.geometry
        row.update(takes=layer.takes, gives=layer.gives, needs_whole_clip=layer.needs_whole_clip,
                   window=geometry.window if geometry else None, hop=geometry.hop if geometry else None)
    return DesignDescription(design=to_dict(config), rows=rows, params=count_params(network),
                             trainable=count_params(network, trainable_only=True),
                             feature_shape=list(network.feature_shape))
