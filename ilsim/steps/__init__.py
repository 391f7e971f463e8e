"""The pipeline's steps, one module per notebook: each reads its inputs from
``results/<name>/`` (see :mod:`ilsim.artifacts`) and writes its outputs there and under
``reports/<name>/`` and ``figures/<name>/``.

Each notebook step module has one public function per notebook section, listed in order in
``SECTIONS``: ``section(p, root=".") -> StepResult`` computes (or loads from the run's files)
what the section needs, writes the section's outputs and returns what it displays, so a reader
reruns any section alone; ``run(p, root=".")`` runs them all, every output of the step's
Snakemake rule. Results that several sections share are computed once
(``result.remembered``). The notebook only calls the sections and shows.

The steps import what they share from ``ilsim.steps.result`` (``StepResult``) and
``ilsim.steps.training`` (the DDPG trainings), never from this package's ``__init__``, which
stays empty: importing one step runs only the code it needs (``ilsim.deps``)."""
