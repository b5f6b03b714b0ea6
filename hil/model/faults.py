"""Deliberate model errors, for negative controls only.

A comparison that never fails proves nothing.  Running the same recorded
observations against a model with one rule knowingly broken must produce
mismatches; these switches break one rule each.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.model.vocabulary import ApicMode


@dataclass(frozen=True)
class ModelFaults:
    flip_ir: bool = False
    """Predict as if interrupt remapping were the opposite of the calibration's."""
    apic_mode: ApicMode | None = None
    """Predict compat messages in this routing mode instead of the calibrated one."""
    reverse_tiebreak: bool = False
    """matrix_find_best_cpu ties go to the highest CPU instead of the lowest."""

    @property
    def any(self) -> bool:
        return self.flip_ir or self.apic_mode is not None or self.reverse_tiebreak
