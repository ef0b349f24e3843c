"""What every front-end layer declares about itself, so the builder, the summary, export and streaming
ask the layer instead of testing its class or pushing zeros through it.

Example:
    >>> FrameGeometry(window=256, hop=128, center=True).num_frames(8000)
    63
    >>> FrameGeometry(window=256, hop=128, center=False).num_frames(8000)
    61
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import ClassVar, Literal

from torch import nn

Kind = Literal["waveform", "features"]


@dataclass(frozen=True)
class FrameGeometry:
    """How a framed layer turns input samples into frames.

    Attributes:
        window: samples one frame sees (its receptive field in the layer's input).
        hop: samples between frame starts.
        center: frames are centred (the input is padded by ``window // 2`` at both ends, as ``torch.stft``).
        pad: extra zeros added at both ends before framing.
    """

    window: int
    hop: int
    center: bool = True
    pad: int = 0

    def num_frames(self, num_samples: int) -> int:
        """Frames made from ``num_samples`` input samples."""
        n = num_samples + 2 * self.pad
        if self.center:
            return 1 + n // self.hop
        return 0 if n < self.window else 1 + (n - self.window) // self.hop


class FrontendLayer(nn.Module):
    """Base of the front-end layers: declares input and output kinds, rate change, frame geometry and
    whether the layer needs the whole clip (per-clip statistics), which streaming cannot give it."""

    takes: ClassVar[Kind] = "waveform"
    gives: ClassVar[Kind] = "features"

    def output_rate(self, rate: float) -> float:
        """The sample rate of the output for an input at ``rate`` (changes only for decimation)."""
        return rate

    @property
    def geometry(self) -> FrameGeometry | None:
        """Frame geometry for framed layers (STFT family); ``None`` for layers that keep the time axis."""
        return None

    @property
    def receptive_field(self) -> int:
        """Input samples (or frames, for feature layers) that one output step depends on."""
        return self.geometry.window if self.geometry is not None else 1

    @property
    def needs_whole_clip(self) -> bool:
        """True when an output depends on statistics of the whole clip (per-clip dB floor, utterance norm)."""
        return False

    @classmethod
    def argument_names(cls) -> list[str]:
        """The keys a design may give this layer."""
        return [p.name for p in inspect.signature(cls).parameters.values()
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    @classmethod
    def argument_types(cls) -> dict:
        """The type hint of each key a design may give this layer (keys without one are left out)."""
        return typing.get_type_hints(cls.__init__)

    @classmethod
    def shape_arguments(cls, input_shape: tuple[int, ...]) -> dict:
        """Arguments the builder derives from the input shape ``(C, F, T)`` when the design leaves them out."""
        return {}
