"""Size and speed of any model, beside the paper's efficiency numbers (library layer).

The public face of :mod:`marsutils.efficiency.measure`, the module that holds the code; import
from here. Chapter 06's study (what each profile times, the verdict, the record) is
:mod:`marsutils.study.efficiency`.
"""

from marsutils.efficiency.measure import (
    BACKBONE_LABELS,
    COST_IMAGE_SIZE,
    DETAIL_COLUMNS,
    OPTIMISATION_METHODS,
    RESULT_COLUMNS,
    SPEED_COLUMNS,
    CpuInference,
    EquivalenceError,
    Timing,
    TimingPlan,
    check_equivalence,
    compare_efficiency_with_paper,
    efficiency_table,
    measure_speed,
    optimise_for_cpu,
    plain_inference,
    time_interleaved,
)

__all__ = [
    "BACKBONE_LABELS",
    "COST_IMAGE_SIZE",
    "DETAIL_COLUMNS",
    "OPTIMISATION_METHODS",
    "RESULT_COLUMNS",
    "SPEED_COLUMNS",
    "CpuInference",
    "EquivalenceError",
    "Timing",
    "TimingPlan",
    "check_equivalence",
    "compare_efficiency_with_paper",
    "efficiency_table",
    "measure_speed",
    "optimise_for_cpu",
    "plain_inference",
    "time_interleaved",
]
