"""Every exception a user can cause; the CLI prints each as one line and exits non-zero.

This module imports nothing from sonogram, so any module may raise these without loading others.
"""


class SonogramError(Exception):
    """Base of the errors a user can cause (bad file, dataset, config, run folder)."""


class AudioError(SonogramError):
    """A file could not be turned into a usable waveform."""


class DatasetError(SonogramError):
    """A dataset is missing, malformed or asked for with invalid options."""


class ConfigError(SonogramError, ValueError):
    """A recipe, design or option has an invalid value; the message names the key and the valid choices."""


class RunError(SonogramError):
    """A run folder is missing, damaged, already taken, or does not match the data it is asked about."""


class Interrupted(Exception):
    """Training was stopped by Ctrl-C; the run folder stays resumable."""


USER_ERRORS = (SonogramError,)
