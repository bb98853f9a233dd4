"""The learning update: TD targets, value bins, PopArt, advantage filters, the AMAGO and AMAGO-2 losses, the
critic interface they read, the optimiser step and the statistics the learner owns."""

from icrl.learn.amago import amago_loss, reduce_ensemble
from icrl.learn.critics import Critic, as_critic
from icrl.learn.learner import Learner
from icrl.learn.multitask import multitask_loss
from icrl.learn.popart import PopArt, PopArtStats
from icrl.learn.stats import LearnerStats, LossOutput, StatsUpdate, StatsView, make_learner_stats
from icrl.learn.targets import bin_values, hlgauss_labels, nstep_targets, twohot_labels

__all__ = ["Critic", "Learner", "LearnerStats", "LossOutput", "PopArt", "PopArtStats", "StatsUpdate", "StatsView",
           "amago_loss", "as_critic", "bin_values", "hlgauss_labels", "make_learner_stats", "multitask_loss",
           "nstep_targets", "reduce_ensemble", "twohot_labels"]
