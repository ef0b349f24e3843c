"""The REST server: a FastAPI app over :mod:`sonogram.inference` (``sonogram serve``)."""
