"""The learning update: TD targets, PopArt, advantage filters, the AMAGO loss and the optimiser step."""

from icrl.learn.amago import amago_loss, reduce_ensemble
from icrl.learn.learner import Learner
from icrl.learn.popart import PopArt
from icrl.learn.targets import nstep_targets

__all__ = ["Learner", "PopArt", "amago_loss", "nstep_targets", "reduce_ensemble"]
