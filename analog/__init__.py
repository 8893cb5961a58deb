"""The hardware floor of memristax: pure functions over arrays and frozen pytree specs.

Submodules: ``device`` (RRAM cells: window, noise, drift, faults, write-and-verify),
``forming`` (random conductances of formed cells, RESET state), ``converters``
(quantizers, DAC, ADC), ``transforms`` (kernel transforms: ternary, levels, low
rank, pruning), ``crossbar`` (weights or given conductances on arrays, noisy
MVM), ``cam`` (content-addressable memory), ``memristor`` (HP memristor
dynamics), ``integrator`` (continuous-time analogue ODE/SDE solver), ``cost``
(energy and latency), ``presets`` (named chips by role), ``noise`` (the
simulator's random streams), ``compiler`` (networks on a crossbar budget).
"""

from analog import (cam, converters, cost, crossbar, device, forming, integrator, memristor, noise, presets,
                    transforms)
from analog.cam import CAMSpec
from analog.converters import ADC, DAC
from analog.cost import DigitalCosts, MacroCosts
from analog.crossbar import CrossbarSpec
from analog.device import RRAM
from analog.integrator import IntegratorSpec

__all__ = [
    "cam", "converters", "cost", "crossbar", "device", "forming", "integrator", "memristor", "noise",
    "presets", "transforms",
    "ADC", "DAC", "CAMSpec", "CrossbarSpec", "IntegratorSpec", "RRAM", "MacroCosts", "DigitalCosts",
]
