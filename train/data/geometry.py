"""Random rigid motions for data sets and equivariance checks (one home)."""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp

__all__ = ["random_rotation", "random_rotations", "random_motion"]


def random_rotation(key: jax.Array) -> jax.Array:
    """A uniform (Haar) random rotation (3, 3), det +1 (e3nn-jax's ``rand_matrix``)."""
    return e3nn.rand_matrix(key, ())


random_rotations = jax.jit(jax.vmap(random_rotation))
random_rotations.__doc__ = "Keys (n, 2) -> rotations (n, 3, 3): one uniform random rotation per key."


def random_motion(key: jax.Array, reflect: bool = True) -> tuple[jax.Array, jax.Array]:
    """A uniform random rotation, times a reflection (det -1) when ``reflect``, and a
    translation (3,) ~ N(0, 1): an element of E(3) to test equivariance with."""
    k_rot, k_shift = jax.random.split(key)
    rotation = random_rotation(k_rot)
    return (-rotation if reflect else rotation), jax.random.normal(k_shift, (3,))
