"""The service layer: what every door (CLI, studio, server) calls. Plain functions and classes that
return data (dicts and dataclasses) and never print.

- :mod:`~sonogram.service.datasets`: survey the data root, describe one dataset and its splits.
- :mod:`~sonogram.service.designs`: describe a design (layer rows, shapes, parameters, errors as data).
- :mod:`~sonogram.service.training`: train or cross-validate, in the foreground or as a background job
  with progress events and cancel.
- :mod:`~sonogram.service.results`: list runs, evaluate one, and the data behind every figure.
- :mod:`~sonogram.service.prediction`: predict files, per-frame probabilities of one or several runs.
"""
