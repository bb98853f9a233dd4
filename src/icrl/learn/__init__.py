"""The learning update: TD targets, value bins, PopArt, advantage filters, the AMAGO and AMAGO-2 losses, the
optimiser step."""

from icrl.learn.amago import amago_loss, reduce_ensemble
from icrl.learn.learner import Learner
from icrl.learn.multitask import multitask_loss
from icrl.learn.popart import PopArt
from icrl.learn.targets import bin_values, hlgauss_labels, nstep_targets, twohot_labels

__all__ = ["Learner", "PopArt", "amago_loss", "bin_values", "hlgauss_labels", "multitask_loss", "nstep_targets",
           "reduce_ensemble", "twohot_labels"]
