"""ilsim: an interactive market simulator built from an ensemble of imitation-learning agents.

One module per idea (see the README's "Where things are"): ``market`` is the simulator (N
environments as tensors), ``envs`` its gymnasium front ends and ``sb3`` its stable-baselines3
adapter. Importing ``ilsim`` registers the gymnasium id ``ilsim/Market-v0``
(``gymnasium.make("ilsim/Market-v0", params="params/default.yaml")``, ``gymnasium.make_vec``).
"""

__version__ = "0.1.0"
ENV_ID = "ilsim/Market-v0"


def _register() -> None:
    """Register the market with gymnasium by name only (nothing heavy is imported here)."""
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium is a core dependency
        return
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(
            ENV_ID,
            entry_point="ilsim.envs:make_market_env",
            vector_entry_point="ilsim.envs:make_market_vector_env",
        )


_register()
