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

import torch
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

    def frame_part(self, waveform: torch.Tensor) -> torch.Tensor:
        """The part of a framed layer that works frame by frame: each output frame depends only on the
        samples under it, so a stream's frames can be computed once and reused by every window.

        ``forward(x) == window_part(frame_part(x))``. The default suits a layer without per-clip
        statistics; a layer with them (``needs_whole_clip``) overrides both halves, or streaming
        computes it whole for every window.
        """
        return self(waveform)

    def window_part(self, frames: torch.Tensor) -> torch.Tensor:
        """What is left after :meth:`frame_part`, applied to one window of its frames (per-clip floors,
        cepstra with deltas): ``(..., C, F, frames)`` in and out for the default (the identity)."""
        return frames

    @property
    def frame_geometry(self) -> FrameGeometry | None:
        """Geometry of :meth:`frame_part`'s frames (wider context, such as deltas, belongs to the window part)."""
        return self.geometry

    @property
    def cacheable(self) -> bool:
        """True when the layer's output for a clip never changes while a network trains (no trainable
        parameters, no randomness, the same in train and eval mode): the engine may then compute it once
        per clip and train the rest of the network on the stored outputs (a frozen pretrained embedding)."""
        return False

    @property
    def streams_by_frame(self) -> bool:
        """True when streaming may cache :meth:`frame_part` frames and apply :meth:`window_part` per window."""
        overridden = type(self).frame_part is not FrontendLayer.frame_part
        return self.takes == "waveform" and self.geometry is not None and (overridden or not self.needs_whole_clip)

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
