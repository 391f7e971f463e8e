"""The pipeline's steps, one module per notebook: each reads its inputs from
``results/<name>/`` (see :mod:`ilsim.artifacts`) and writes its outputs there and under
``reports/<name>/`` and ``figures/<name>/``."""
