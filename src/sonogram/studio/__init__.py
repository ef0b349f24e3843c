"""The browser studio (``sonogram studio``): Gradio pages that call :mod:`sonogram.service` only.

Needs the ``studio`` extra (``pip install sonogram[studio]``). :func:`~sonogram.studio.app.build_app`
builds the Blocks; :func:`~sonogram.studio.app.launch` serves them on 127.0.0.1.
"""
