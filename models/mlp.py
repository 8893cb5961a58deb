"""A multilayer perceptron whose every weight matrix sits on analogue crossbars."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from analog.crossbar import CrossbarSpec
from models.layers import AnalogDense


class AnalogMLP(nn.Module):
    """ReLU MLP: ``hidden`` widths, then ``n_out`` logits, all ``AnalogDense`` with ``spec``.

    With ``spec.ideal()`` it is an ordinary digital MLP (same parameters).
    """

    hidden: Sequence[int]
    n_out: int
    spec: CrossbarSpec = CrossbarSpec()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = nn.relu(AnalogDense(width, spec=self.spec)(x))
        return AnalogDense(self.n_out, spec=self.spec)(x)
