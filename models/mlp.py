"""A multilayer perceptron whose every weight matrix sits on analogue crossbars."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax

from analog.crossbar import CrossbarSpec
from models.layers import AnalogDense


class AnalogMLP(nn.Module):
    """MLP: ``hidden`` widths with ``activation``, then ``n_out`` outputs, all
    ``AnalogDense`` with ``spec``; ``activate_last`` also applies the activation
    to the output, and ``last_kernel_init`` sets the output layer's initialiser.

    With ``spec.ideal()`` it is an ordinary digital MLP (same parameters).
    """

    hidden: Sequence[int]
    n_out: int
    spec: CrossbarSpec = CrossbarSpec()
    activation: Callable[[jax.Array], jax.Array] = nn.relu
    activate_last: bool = False
    last_kernel_init: Any = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = self.activation(AnalogDense(width, spec=self.spec)(x))
        x = AnalogDense(self.n_out, spec=self.spec, kernel_init=self.last_kernel_init)(x)
        return self.activation(x) if self.activate_last else x
