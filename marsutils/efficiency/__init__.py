"""Size and speed of any model, beside the paper's efficiency numbers (library layer).

This is the public face; import from here. The code, one job a module:
:mod:`~marsutils.efficiency.inference` (the plain and the optimised CPU inference paths),
:mod:`~marsutils.efficiency.equivalence` (the optimised path checked against the plain one),
:mod:`~marsutils.efficiency.timing` (interleaved wall-clock timing),
:mod:`~marsutils.efficiency.measure` (:func:`measure_speed`, the one speed measurement),
:mod:`~marsutils.efficiency.table` (size and speed of every model) and
:mod:`~marsutils.efficiency.versus_paper` (ours beside the paper's Table 2). Chapter 06's study
(what each profile times, the verdict, the record) is :mod:`marsutils.study.efficiency`.
"""

from marsutils.efficiency.equivalence import EquivalenceError, check_equivalence
from marsutils.efficiency.inference import (
    OPTIMISATION_METHODS,
    CpuInference,
    optimise_for_cpu,
    plain_inference,
)
from marsutils.efficiency.measure import SPEED_COLUMNS, measure_speed
from marsutils.efficiency.table import (
    BACKBONE_LABELS,
    COST_IMAGE_SIZE,
    DETAIL_COLUMNS,
    RESULT_COLUMNS,
    TimingPlan,
    efficiency_table,
)
from marsutils.efficiency.timing import Timing, time_interleaved
from marsutils.efficiency.versus_paper import compare_efficiency_with_paper

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
