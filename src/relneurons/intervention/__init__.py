"""Interventions on neuron outputs (SPEC §4)."""

from .hooks import InterventionReport, deactivate

__all__ = ["InterventionReport", "deactivate"]
