"""ilsim: an interactive market simulator built from an ensemble of imitation-learning agents.

One module per idea (see the README's "Where things are"): ``market`` is the simulator (N
environments as tensors), ``envs`` its gymnasium front ends and ``sb3`` its stable-baselines3
adapter. Importing ``ilsim`` registers the gymnasium id ``ilsim/Market-v0``
(``gymnasium.make("ilsim/Market-v0", data="bars.csv")`` on any bars file,
``params="params/default.yaml"`` on a finished run; ``gymnasium.make_vec``). Gymnasium >= 1.0
loads no plugins (its ``gymnasium.envs`` entry points are gone), so something must import
``ilsim``: ``import ilsim``, or the id ``"ilsim:ilsim/Market-v0"``, which gymnasium imports by
itself.
"""

__version__ = "0.1.0"
ENV_ID = "ilsim/Market-v0"


def _register() -> None:
    """Register the market with gymnasium by name only (nothing heavy is imported here); a
    second call leaves the registration as it is (no re-registration warning)."""
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
