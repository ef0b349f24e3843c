"""The server's settings: limits, micro-batching and the optional bearer token.

Example:
    >>> ServeConfig(max_batch=1).batching
    False
"""

from __future__ import annotations

from dataclasses import dataclass

from sonogram.errors import ConfigError


@dataclass
class ServeConfig:
    """Attributes:
        max_bytes: largest upload (a file, or the whole request of a batch); 413 above.
        max_seconds: longest audio accepted; 413 above.
        max_files: most files in one ``/v1/predict/batch`` request.
        top_k: default number of best classes in a reply (``?top_k=`` changes it per request).
        max_batch: most clips run together; 1 runs each request alone.
        batch_wait_ms: how long the first clip of a batch waits for others to arrive.
        token: when set, every ``/v1`` endpoint but ``/v1/health`` needs ``Authorization: Bearer <token>``.
        threads: the runtime's intra-op threads; 0 keeps its default (all cores). On a small machine 1
            leaves the other cores to decoding and HTTP.
    """

    max_bytes: int = 10_000_000
    max_seconds: float = 30.0
    max_files: int = 32
    top_k: int = 3
    max_batch: int = 32
    batch_wait_ms: float = 5.0
    token: str | None = None
    threads: int = 0

    def __post_init__(self):
        for name in ("max_bytes", "max_files", "top_k", "max_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (the runtime's default) or more, got {self.threads}")
        if self.max_seconds <= 0 or self.batch_wait_ms < 0:
            raise ConfigError(f"max_seconds must be positive and batch_wait_ms non-negative, got "
                              f"{self.max_seconds} and {self.batch_wait_ms}")

    @property
    def batching(self) -> bool:
        return self.max_batch > 1
