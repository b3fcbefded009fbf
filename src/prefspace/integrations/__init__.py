"""Adapters that plug a prefspace reward model into other training libraries.

    prefspace.integrations.trl.reward_function(model_dir)   a TRL reward function (GRPOTrainer)

For OpenRLHF, run ``prefspace serve MODEL`` and pass ``--reward.remote_url
http://127.0.0.1:8000/get_reward`` (see docs/serving.md). Each adapter is imported on
its own, so importing this package imports none of them.
"""

__all__: list[str] = []
