"""Sequence models behind one interface; importing this package registers the built-in ones."""

from icrl.nets.sequence import feedforward, mamba, rnn, transformer  # noqa: F401  (registration)
from icrl.nets.sequence.base import (
    SequenceModel,
    make_sequence_model,
    register_sequence_model,
    sequence_model_names,
)

__all__ = ["SequenceModel", "make_sequence_model", "register_sequence_model", "sequence_model_names"]
