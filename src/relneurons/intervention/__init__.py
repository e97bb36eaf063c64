"""Interventions on neuron outputs (paper §2.3)."""

from .hooks import Condition, ConditionBatch, InterventionReport, conditions, deactivate

__all__ = ["Condition", "ConditionBatch", "InterventionReport", "conditions", "deactivate"]
