"""icrl: in-context reinforcement learning (the AMAGO method).

The public entry points are re-exported lazily (PEP 562), so ``import icrl.config`` or ``icrl envs`` does not
load the training stack, and no station module runs the package root's imports (``tests/test_import_rules.py``).
"""

__all__ = ["SavedRun", "load_run"]


def __getattr__(name: str):
    if name in __all__:
        from icrl.train import saved  # a plain import statement, so the import-rules test sees it

        return getattr(saved, name)
    raise AttributeError(f"module 'icrl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
