"""ilsim: an interactive market simulator built from an ensemble of imitation-learning agents.

One module per idea: ``data`` (import and validate bars), ``synthetic`` (the seeded default
market), ``regimes`` (segments and roles), ``features`` (indicators, scaling, online features),
``params`` (validated parameter sets), ``plots`` and ``report`` (outputs).
"""

__version__ = "0.1.0"
