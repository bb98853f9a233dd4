"""Built-in, dependency-free environments (registered in ``icrl.envs.registry``)."""
