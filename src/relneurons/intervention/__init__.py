"""Interventions on neuron outputs (SPEC §4)."""

from .hooks import Condition, ConditionBatch, InterventionReport, conditions, deactivate

__all__ = ["Condition", "ConditionBatch", "InterventionReport", "conditions", "deactivate"]
