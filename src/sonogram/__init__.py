"""sonogram: classify spoken words (digits, keywords, commands) from audio."""

__version__ = "0.1.0"
