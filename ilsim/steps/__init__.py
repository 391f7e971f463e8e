"""The pipeline's steps, one module per notebook: each reads its inputs from
``results/<name>/`` (see :mod:`ilsim.artifacts`) and writes its outputs there and under
``reports/<name>/`` and ``figures/<name>/``.

Each step module has ``run(p, root=".") -> StepResult``: it writes every output of its
Snakemake rule and returns what the notebook displays; the notebook only calls it and shows.

The steps import what they share from ``ilsim.steps.result`` (``StepResult``) and
``ilsim.steps.training`` (the DDPG trainings), never from this package's ``__init__``, which
stays empty: importing one step runs only the code it needs (``ilsim.deps``)."""
