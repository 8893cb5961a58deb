"""Once-for-all MobileNetV3-small: one weight-sharing supernet, elastic in kernel
size, expansion ratio and depth, and the static sub-networks cut out of it.

Space (OFA MobileNetV3-small, as in the RRAM-aware NAS seed): stem 16, a fixed
first block (3x3 depth-wise, 16), four elastic stages of widths 24, 40, 48, 96
(strides 2, 2, 1, 2; squeeze-excite in the last three), a 576-wide final 1x1
conv, a 1280-wide dense layer and the classifier. Each of the 16 possible
blocks has a kernel size in ``KERNELS`` and an expansion ratio in ``EXPANDS``;
each stage keeps its first ``depth`` blocks, depth in ``DEPTHS``.

Genes: 36 integers, each an index into its option list: 16 kernel genes, 16
expansion genes, 4 depth genes (:func:`decode` turns them into an ``Arch``).

Weight sharing: a k x k kernel is the centre of the 7 x 7 kernel; an expanded
width is the first channels of the widest one; a shallower stage drops its last
blocks. :class:`Supernet` runs any sub-network from traced genes with masks (one
compiled function serves every architecture); :class:`SubNet` is the static
sub-network, and :func:`extract` cuts its variables out of the supernet's. The
two give the same outputs.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from models.cnn import make_divisible

__all__ = ["KERNELS", "EXPANDS", "DEPTHS", "N_GENES", "Arch", "decode", "encode", "largest",
           "smallest", "Supernet", "SubNet", "extract", "param_count", "canonical"]

KERNELS = (3, 5, 7)
EXPANDS = (3, 4, 6)
DEPTHS = (2, 3, 4)
STAGES = ((24, 2, "relu", False), (40, 2, "hardswish", True), (48, 1, "hardswish", True),
          (96, 2, "hardswish", True))      # (width, stride, activation, squeeze-excite)
MAX_DEPTH = max(DEPTHS)
N_BLOCKS = len(STAGES) * MAX_DEPTH
N_GENES = 2 * N_BLOCKS + len(STAGES)
STEM, FIRST, LAST, FEATURES = 16, 16, 576, 1280
_ACT = {"relu": nn.relu, "hardswish": nn.hard_swish}


@dataclasses.dataclass(frozen=True)
class Arch:
    """kernels, expands: 16 per block (stage-major); depths: 4 per stage."""

    kernels: tuple
    expands: tuple
    depths: tuple


def decode(genes: Sequence[int]) -> Arch:
    """36 option indices -> Arch (a clear error on a wrong length or index)."""
    genes = np.asarray(genes, dtype=np.int64)
    if genes.shape != (N_GENES,) or genes.min() < 0 or genes.max() > 2:
        raise ValueError(f"genes must be {N_GENES} integers in 0..2, got shape {genes.shape} "
                         f"and values {genes.min() if genes.size else None}..{genes.max() if genes.size else None}")
    k, e, d = genes[:N_BLOCKS], genes[N_BLOCKS:2 * N_BLOCKS], genes[2 * N_BLOCKS:]
    return Arch(tuple(KERNELS[i] for i in k), tuple(EXPANDS[i] for i in e), tuple(DEPTHS[i] for i in d))


def encode(arch: Arch) -> np.ndarray:
    """Arch -> 36 option indices."""
    return np.array([KERNELS.index(k) for k in arch.kernels] + [EXPANDS.index(e) for e in arch.expands]
                    + [DEPTHS.index(d) for d in arch.depths], dtype=np.int64)


def canonical(genes: Sequence[int]) -> tuple:
    """Genes with the unused blocks' genes set to 0: equal architectures, equal keys."""
    genes = np.array(genes, dtype=np.int64)
    for s in range(len(STAGES)):
        depth = DEPTHS[genes[2 * N_BLOCKS + s]]
        for j in range(depth, MAX_DEPTH):
            genes[s * MAX_DEPTH + j] = 0
            genes[N_BLOCKS + s * MAX_DEPTH + j] = 0
    return tuple(genes.tolist())


def largest() -> np.ndarray:
    return np.full(N_GENES, 2, dtype=np.int64)


def smallest() -> np.ndarray:
    return np.zeros(N_GENES, dtype=np.int64)


def _scaled(channels: int, width: float) -> int:
    """Channels under a width multiplier (multiples of 8, as MobileNets round)."""
    return channels if width == 1.0 else make_divisible(channels * width, 8)


def _block_plan(width: float = 1.0):
    """(stage, index, in_channels, out, stride, act, se) of the 16 possible blocks."""
    plan, channels = [], _scaled(FIRST, width)
    for s, (out, stride, act, se) in enumerate(STAGES):
        out = _scaled(out, width)
        for j in range(MAX_DEPTH):
            plan.append((s, j, channels if j == 0 else out, out, stride if j == 0 else 1, act, se))
        channels = out
    return plan


def _mid(in_channels: int, expand: int) -> int:
    return make_divisible(in_channels * expand, 8)


def _se_mid(mid: int) -> int:
    return make_divisible(mid // 4, 8)


class Depthwise(nn.Conv):
    """A depth-wise ``nn.Conv`` (so the compiler's tracer sees it) that can run a
    centred k x k part of its K x K kernel: ``kernel_mask`` is (K, K), 1 inside.
    Square kernels, padding K // 2 (then the masked K x K conv equals a k x k conv
    with padding k // 2)."""

    @nn.compact
    def __call__(self, x, kernel_mask=None):
        k = self.kernel_size[0]
        stride = (self.strides,) * 2 if isinstance(self.strides, int) else tuple(self.strides)
        kernel = self.param("kernel", self.kernel_init, (k, k, 1, self.features), self.param_dtype)
        if kernel_mask is not None:
            kernel = kernel * kernel_mask[:, :, None, None]
        return jax.lax.conv_general_dilated(
            x, kernel, stride, ((k // 2, k // 2),) * 2,
            dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=self.features)


class Block(nn.Module):
    """Inverted residual (B, H, W, C_in) -> (B, H/stride, W/stride, out).

    expand 1x1 + BN + act, k x k depth-wise + BN + act, optional squeeze-excite,
    project 1x1 + BN; residual when the shape is kept. ``masks`` = (kernel (K, K),
    mid (M,), se (S,)) runs a smaller block inside this one (supernet mode).
    """

    out: int
    kernel: int
    mid: int
    stride: int
    act: str
    se: bool
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x, train: bool, masks=None):
        act = _ACT[self.act]
        bn = lambda name: nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                                       name=name)
        kernel_mask, mid_mask, se_mask = masks if masks is not None else (None, 1.0, 1.0)
        y = act(bn("expand_bn")(nn.Conv(self.mid, (1, 1), use_bias=False, name="expand")(x))) * mid_mask
        y = Depthwise(self.mid, (self.kernel, self.kernel), strides=self.stride,
                      padding=((self.kernel // 2,) * 2,) * 2, feature_group_count=self.mid,
                      use_bias=False, name="depthwise")(y, kernel_mask)
        y = act(bn("depthwise_bn")(y)) * mid_mask
        if self.se:
            s = y.mean(axis=(1, 2), keepdims=True)
            s = nn.relu(nn.Conv(_se_mid(self.mid), (1, 1), name="se_reduce")(s)) * se_mask
            y = y * nn.hard_sigmoid(nn.Conv(self.mid, (1, 1), name="se_expand")(s))
        y = bn("project_bn")(nn.Conv(self.out, (1, 1), use_bias=False, name="project")(y))
        return x + y if self.stride == 1 and x.shape[-1] == self.out else y


class _Body(nn.Module):
    """Stem, first block and head shared by the supernet and its sub-networks."""

    num_classes: int
    bn_momentum: float
    width: float

    def stem(self, x, train):
        bn = lambda name: nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                                       name=name)
        stem, first = _scaled(STEM, self.width), _scaled(FIRST, self.width)
        x = nn.hard_swish(bn("stem_bn")(nn.Conv(stem, (3, 3), strides=2, padding=((1, 1), (1, 1)),
                                               use_bias=False, name="stem")(x)))
        y = Depthwise(first, (3, 3), padding=((1, 1), (1, 1)), feature_group_count=first,
                      use_bias=False, name="first_depthwise")(x)
        y = nn.relu(bn("first_depthwise_bn")(y))
        y = bn("first_project_bn")(nn.Conv(first, (1, 1), use_bias=False, name="first_project")(y))
        return x + y

    def head(self, x, train):
        bn = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, name="last_bn")
        x = nn.hard_swish(bn(nn.Conv(_scaled(LAST, self.width), (1, 1), use_bias=False, name="last")(x)))
        x = nn.hard_swish(nn.Dense(_scaled(FEATURES, self.width), name="features")(x.mean(axis=(1, 2))))
        return nn.Dense(self.num_classes, name="classifier")(x)


class Supernet(_Body):
    """The widest, deepest network; ``genes`` (36 ints, may be traced) pick the
    sub-network that runs. x: (B, H, W, C) -> logits (B, num_classes).
    width: multiplier on every layer's channels (1.0 = the paper's space)."""

    num_classes: int = 10
    bn_momentum: float = 0.9
    width: float = 1.0

    @nn.compact
    def __call__(self, x, genes, train: bool = False):
        genes = jnp.asarray(genes)
        x = self.stem(x, train)
        for b, (s, j, cin, out, stride, act, se) in enumerate(_block_plan(self.width)):
            mid_max = _mid(cin, max(EXPANDS))
            k = jnp.asarray(KERNELS)[genes[b]]
            mid = jnp.asarray([_mid(cin, e) for e in EXPANDS])[genes[N_BLOCKS + b]]
            se_mid = jnp.asarray([_se_mid(_mid(cin, e)) for e in EXPANDS])[genes[N_BLOCKS + b]]
            r = jnp.abs(jnp.arange(max(KERNELS)) - max(KERNELS) // 2)
            kernel_mask = ((r[:, None] <= k // 2) & (r[None, :] <= k // 2)).astype(x.dtype)
            masks = (kernel_mask, (jnp.arange(mid_max) < mid).astype(x.dtype),
                     (jnp.arange(_se_mid(mid_max)) < se_mid).astype(x.dtype))
            y = Block(out, max(KERNELS), mid_max, stride, act, se, self.bn_momentum,
                      name=f"stage{s}_block{j}")(x, train, masks)
            if j >= min(DEPTHS):
                y = jnp.where(j < jnp.asarray(DEPTHS)[genes[2 * N_BLOCKS + s]], y, x)
            x = y
        return self.head(x, train)


class SubNet(_Body):
    """The static sub-network of ``arch``. x: (B, H, W, C) -> logits (B, num_classes)."""

    arch: Arch = None
    num_classes: int = 10
    bn_momentum: float = 0.9
    width: float = 1.0

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = self.stem(x, train)
        for b, (s, j, cin, out, stride, act, se) in enumerate(_block_plan(self.width)):
            if j >= self.arch.depths[s]:
                continue
            x = Block(out, self.arch.kernels[b], _mid(cin, self.arch.expands[b]), stride, act, se,
                      self.bn_momentum, name=f"stage{s}_block{j}")(x, train)
        return self.head(x, train)


def _cut(path, big: jax.Array, shape: tuple) -> jax.Array:
    """The sub-array of ``big`` with ``shape``: a centred window for depth-wise kernels, else leading."""
    names = [getattr(p, "key", str(p)) for p in path]
    index = []
    for axis, (n_big, n) in enumerate(zip(big.shape, shape)):
        centred = names[-1] == "kernel" and names[-2].endswith("depthwise") and axis < 2
        start = (n_big - n) // 2 if centred else 0
        index.append(slice(start, start + n))
    return big[tuple(index)]


def extract(variables: dict, arch: Arch, input_shape: tuple, num_classes: int = 10,
            width: float = 1.0) -> dict:
    """Variables of ``SubNet(arch)`` cut out of the supernet's ``variables`` (pure).

    input_shape: (H, W, C) of one sample (only to learn the sub-network's shapes).
    """
    sub = SubNet(arch=arch, num_classes=num_classes, width=width)
    shapes = jax.eval_shape(lambda: sub.init(jax.random.PRNGKey(0), jnp.zeros((1, *input_shape))))
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: _cut(path, _lookup(variables, path), leaf.shape), shapes)


def _lookup(tree, path):
    for p in path:
        tree = tree[getattr(p, "key", p)]
    return tree


def param_count(arch: Arch, in_channels: int, num_classes: int = 10, width: float = 1.0) -> int:
    """Trainable parameters that ``arch`` implies (convs, BN scale and bias, dense)."""
    bn = lambda c: 2 * c
    stem, first = _scaled(STEM, width), _scaled(FIRST, width)
    last, features = _scaled(LAST, width), _scaled(FEATURES, width)
    total = 9 * in_channels * stem + bn(stem) + 9 * first + bn(first) + first * first + bn(first)
    for b, (s, j, cin, out, stride, act, se) in enumerate(_block_plan(width)):
        if j >= arch.depths[s]:
            continue
        mid, k = _mid(cin, arch.expands[b]), arch.kernels[b]
        total += cin * mid + bn(mid) + k * k * mid + bn(mid) + mid * out + bn(out)
        if se:
            sm = _se_mid(mid)
            total += mid * sm + sm + sm * mid + mid
    top = _scaled(STAGES[-1][0], width)
    total += top * last + bn(last) + last * features + features + features * num_classes + num_classes
    return total
