"""Plain layer descriptions and the compiler's hardware spec.

The compiler sees a network as an ordered tuple of :class:`Layer` records (the
execution order is the pipeline order), read off a model by a tracer
(``models.trace``) or written by hand. Nothing here imports flax.
"""

from __future__ import annotations

import math

from analog.cost import MNSIM_T_ADC_S, MNSIM_T_DAC_S, MNSIM_T_DIGITAL_S, MNSIM_T_READ_S
from analog.spec import check_choice, check_range, spec, static

__all__ = ["Layer", "Network", "CompilerSpec"]


@spec
class Layer:
    """One conv or dense layer as the compiler sees it.

    kind: ``"conv"`` or ``"dense"``. kernel: (k_h, k_w) (``(1, 1)`` for dense).
    in_channels / out_channels: C_in, C_out (features for dense). groups: conv
    groups (C_in = C_out = groups is depth-wise). out_size: (H_out, W_out) output
    pixels per sample for a conv; for dense, the number of input vectors per
    sample as (n, 1) ((1, 1) for a classifier head).
    """

    name: str = static()
    kind: str = static()
    in_channels: int = static()
    out_channels: int = static()
    kernel: tuple = static((1, 1))
    groups: int = static(1)
    stride: tuple = static((1, 1))
    out_size: tuple = static((1, 1))

    def validate(self):
        check_choice(self, "kind", ("conv", "dense"))
        for field in ("in_channels", "out_channels", "groups"):
            check_range(self, field, 1, integer=True)
        for field in ("kernel", "stride", "out_size"):
            value = getattr(self, field)
            if not (isinstance(value, tuple) and len(value) == 2):
                raise ValueError(f"Layer.{field} = {value!r} is invalid: allowed a pair of ints")
            check_range(self, field, 1, integer=True)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"Layer {self.name!r}: groups = {self.groups} must divide in_channels = "
                f"{self.in_channels} and out_channels = {self.out_channels}")
        if self.kind == "dense" and (self.kernel != (1, 1) or self.groups != 1):
            raise ValueError(f"Layer {self.name!r}: a dense layer has kernel (1, 1) and groups 1")

    @property
    def pixels(self) -> int:
        """Output pixels (conv) or input vectors (dense) per sample."""
        return self.out_size[0] * self.out_size[1]

    @property
    def weights(self) -> int:
        """Number of weights (no bias)."""
        return self.kernel[0] * self.kernel[1] * self.in_channels * self.out_channels // self.groups


@spec
class Network:
    """A named, ordered tuple of layers; ``input_shape`` is (H, W, C) of one sample."""

    name: str = static()
    layers: tuple = static()
    input_shape: tuple = static(())

    def validate(self):
        if not self.layers or not all(isinstance(layer, Layer) for layer in self.layers):
            raise ValueError(f"Network {self.name!r}: layers must be a non-empty tuple of Layer")

    def __len__(self) -> int:
        return len(self.layers)


@spec
class CompilerSpec:
    """Crossbar hardware and mapping rules for the edge compiler.

    Hardware (defaults: the RRAM-NAS reference's MNSIM-2.0 configuration, the
    same macro as ``analog.cost.MacroCosts.rram_40nm``):
      xbar_rows, xbar_cols: crossbar size in cells (128 x 128).
      weight_bits: weight precision held by one box cell (informational; one
        cell per weight as in the reference).
      input_bits, dac_bits: bit-serial input, ceil(input_bits / dac_bits) planes.
      t_dac, t_read, t_adc: seconds per plane (3 ns, 3.16 ns, and ISAAC's 8-bit
        1.28 GS/s ADC: (8 + 2) / 1.28e9 = 7.8125 ns; ``analog.cost.MNSIM_*``).
      t_digital: seconds per input vector of shift-add / accumulation / buffer
        (40.99 ns: the rest of MNSIM's 152.77 ns per vector).
    Mapping rules:
      depthwise_split: a grouped conv's groups are cut into chunks of
        max(1, groups // depthwise_split) groups (the reference's rule; 5 gives
        5 or 6 chunks), each chunk its own box.
      layer_gap: pieces of layers whose index differs by <= layer_gap never share
        a crossbar (1: no same or adjacent layers, so layers still pipeline).
      max_load: at most this many pieces on one crossbar.
      samples: input samples streamed through the pipeline for latency.
    """

    xbar_rows: int = static(128)
    xbar_cols: int = static(128)
    weight_bits: int = static(8)
    input_bits: int = static(8)
    dac_bits: int = static(1)
    t_dac: float = static(MNSIM_T_DAC_S)
    t_read: float = static(MNSIM_T_READ_S)
    t_adc: float = static(MNSIM_T_ADC_S)
    t_digital: float = static(MNSIM_T_DIGITAL_S)
    depthwise_split: int = static(5)
    layer_gap: int = static(1)
    max_load: int = static(6)
    samples: int = static(8)

    def validate(self):
        for field in ("xbar_rows", "xbar_cols", "weight_bits", "input_bits", "dac_bits",
                      "depthwise_split", "max_load", "samples"):
            check_range(self, field, 1, integer=True)
        check_range(self, "layer_gap", 0, integer=True)
        for field in ("t_dac", "t_read", "t_adc", "t_digital"):
            check_range(self, field, 0.0)

    @property
    def cycle_s(self) -> float:
        """Seconds for one input vector through one box (any shape up to the crossbar)."""
        planes = math.ceil(self.input_bits / self.dac_bits)
        return planes * (self.t_dac + self.t_read + self.t_adc) + self.t_digital

    @property
    def cells(self) -> int:
        """Cells per crossbar."""
        return self.xbar_rows * self.xbar_cols
