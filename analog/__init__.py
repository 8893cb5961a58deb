"""The hardware floor of memristax: pure functions over arrays and frozen pytree specs.

Submodules: ``device`` (RRAM cells), ``converters`` (quantizers, DAC, ADC),
``crossbar`` (weights on arrays, noisy MVM), ``cam`` (content-addressable
memory), ``memristor`` (HP memristor dynamics), ``integrator`` (continuous-time
analogue solver), ``cost`` (energy and latency).
"""

from analog import cam, converters, cost, crossbar, device
from analog.converters import ADC, DAC
from analog.cost import DigitalCosts, MacroCosts
from analog.crossbar import CrossbarSpec
from analog.device import RRAM

__all__ = [
    "cam", "converters", "cost", "crossbar", "device",
    "ADC", "DAC", "CrossbarSpec", "RRAM", "MacroCosts", "DigitalCosts",
]
