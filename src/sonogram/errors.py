"""The exceptions a user can cause; the CLI prints each as one line and exits non-zero."""

from sonogram.audio import AudioError
from sonogram.datasets.base import DatasetError


class ConfigError(ValueError):
    """A recipe, design or option has an invalid value; the message names the key and the valid choices."""


class Interrupted(Exception):
    """Training was stopped by Ctrl-C; the run folder stays resumable."""


USER_ERRORS = (AudioError, DatasetError, ConfigError)
