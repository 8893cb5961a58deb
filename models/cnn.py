"""Small-image CNNs in flax.linen, laid out like torchvision (NHWC inputs).

All take x: (batch, H, W, 3) and return logits (batch, num_classes); ``train``
switches BatchNorm to batch statistics (mutable ``"batch_stats"``) and turns
dropout on (rng stream ``"dropout"``). Paddings are PyTorch's, so every feature
map has exactly PyTorch's size.

- ``SqueezeNet11``: torchvision ``squeezenet1_1``.
- ``MobileNetV3Small``: torchvision ``mobilenet_v3_small``.
- ``ResNet18``: torchvision ``resnet18``; ``cifar_stem=True`` gives the CIFAR
  variant (3x3 stride-1 stem, no max-pool) used by the RRAM-NAS reference.
- ``SmallCNN``: two 3x3 conv + 2x2 max-pool stages (16, 32) and a 64-unit dense layer,
  digital: the judges of generated images (inpainted digits, decoded letters).
- ``MobileNetV3SmallRNC``: the RRAM-NAS reference's own MobileNetV3-small
  (``ArChiiii/rram_nas_comp_pack``, ``box_converter/models/mobilenet``), which
  differs from torchvision's (see its docstring).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["SmallCNN", "SqueezeNet11", "MobileNetV3Small", "MobileNetV3SmallRNC", "ResNet18", "make_divisible",
           "RNC_NETWORKS"]


def _pad(k: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """PyTorch's ``padding=k // 2`` for a k x k kernel."""
    return ((k // 2, k // 2),) * 2


def _max_pool_ceil(x: jax.Array, k: int = 3, s: int = 2) -> jax.Array:
    """``nn.MaxPool2d(k, s, ceil_mode=True)``: (B, H, W, C) -> (B, ceil((H-k)/s)+1, ..., C)."""
    extra = [(-(-(n - k) // s)) * s + k - n for n in x.shape[1:3]]
    return nn.max_pool(x, (k, k), (s, s), padding=[(0, e) for e in extra])


def _global_pool(x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, C)."""
    return x.mean(axis=(1, 2))


def _classifier(module: nn.Module, x: jax.Array, hidden: int, train: bool) -> jax.Array:
    """MobileNetV3 head inside ``module``'s compact call: pool, Dense ``hidden`` ("fc1") +
    hardswish + dropout (``module.dropout``), Dense ``module.num_classes`` ("fc2").
    x: (B, H, W, C) -> (B, num_classes)."""
    x = nn.hard_swish(nn.Dense(hidden, name="fc1")(_global_pool(x)))
    x = nn.Dropout(module.dropout, deterministic=not train)(x)
    return nn.Dense(module.num_classes, name="fc2")(x)


class SmallCNN(nn.Module):
    """A small digital classifier of (batch, H, W, C) images: logits (batch, classes)."""

    classes: int = 10

    @nn.compact
    def __call__(self, x):
        for features in (16, 32):
            x = nn.max_pool(nn.relu(nn.Conv(features, (3, 3))(x)), (2, 2), (2, 2))
        return nn.Dense(self.classes)(nn.relu(nn.Dense(64)(x.reshape((x.shape[0], -1)))))


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: nearest multiple of divisor, never below 90 % of v."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


# ---------------------------------------------------------------- SqueezeNet 1.1


class Fire(nn.Module):
    """(B, H, W, C) -> (B, H, W, expand1x1 + expand3x3)."""

    squeeze: int
    expand1x1: int
    expand3x3: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Conv(self.squeeze, (1, 1), name="squeeze")(x))
        a = nn.relu(nn.Conv(self.expand1x1, (1, 1), name="expand1x1")(x))
        b = nn.relu(nn.Conv(self.expand3x3, (3, 3), padding=_pad(3), name="expand3x3")(x))
        return jnp.concatenate([a, b], axis=-1)


class SqueezeNet11(nn.Module):
    """SqueezeNet 1.1: (B, H, W, 3) -> (B, num_classes); 64x64 gives maps 31, 15, 7, 3."""

    num_classes: int = 10
    dropout: float = 0.5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.relu(nn.Conv(64, (3, 3), strides=2, padding="VALID", name="conv1")(x))
        x = _max_pool_ceil(x)
        x = Fire(16, 64, 64, name="fire2")(x)
        x = Fire(16, 64, 64, name="fire3")(x)
        x = _max_pool_ceil(x)
        x = Fire(32, 128, 128, name="fire4")(x)
        x = Fire(32, 128, 128, name="fire5")(x)
        x = _max_pool_ceil(x)
        x = Fire(48, 192, 192, name="fire6")(x)
        x = Fire(48, 192, 192, name="fire7")(x)
        x = Fire(64, 256, 256, name="fire8")(x)
        x = Fire(64, 256, 256, name="fire9")(x)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = nn.relu(nn.Conv(self.num_classes, (1, 1), name="classifier")(x))
        return _global_pool(x)


# ------------------------------------------------------------ MobileNetV3-small

# (kernel, expanded, out, SE, activation, stride): torchvision's mobilenet_v3_small
MBV3_SMALL = (
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hardswish", 2),
    (5, 240, 40, True, "hardswish", 1),
    (5, 240, 40, True, "hardswish", 1),
    (5, 120, 48, True, "hardswish", 1),
    (5, 144, 48, True, "hardswish", 1),
    (5, 288, 96, True, "hardswish", 2),
    (5, 576, 96, True, "hardswish", 1),
    (5, 576, 96, True, "hardswish", 1),
)
_ACT = {"relu": nn.relu, "hardswish": nn.hard_swish}


class _ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm (+ activation): (B, H, W, C) -> (B, H/stride, W/stride, features)."""

    features: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    act: str | None = None
    bn_eps: float = 1e-5
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = nn.Conv(self.features, (self.kernel, self.kernel), strides=self.stride,
                    padding=_pad(self.kernel), feature_group_count=self.groups, use_bias=False,
                    name="conv")(x)
        x = nn.BatchNorm(use_running_average=not train, epsilon=self.bn_eps,
                         momentum=self.bn_momentum, name="bn")(x)
        return _ACT[self.act](x) if self.act else x


# torchvision's MobileNetV3 BatchNorm: eps 1e-3, PyTorch momentum 0.01
_MbConvBN = functools.partial(_ConvBN, bn_eps=1e-3, bn_momentum=0.99)


class SqueezeExcite(nn.Module):
    """torchvision SqueezeExcitation: x * hardsigmoid(fc2(relu(fc1(mean(x))))), shape kept."""

    squeeze: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        s = x.mean(axis=(1, 2), keepdims=True)  # (B, 1, 1, C)
        s = nn.relu(nn.Conv(self.squeeze, (1, 1), name="fc1")(s))
        s = nn.hard_sigmoid(nn.Conv(x.shape[-1], (1, 1), name="fc2")(s))
        return x * s


class InvertedResidual(nn.Module):
    """torchvision MobileNetV3 block: (B, H, W, C_in) -> (B, H/stride, W/stride, out)."""

    kernel: int
    expanded: int
    out: int
    se: bool
    act: str
    stride: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = x
        if self.expanded != x.shape[-1]:
            y = _MbConvBN(self.expanded, act=self.act, name="expand")(y, train)
        y = _MbConvBN(self.expanded, self.kernel, self.stride, groups=self.expanded,
                      act=self.act, name="depthwise")(y, train)
        if self.se:
            y = SqueezeExcite(make_divisible(self.expanded // 4, 8), name="se")(y)
        y = _MbConvBN(self.out, name="project")(y, train)
        return x + y if self.stride == 1 and x.shape[-1] == self.out else y


class MobileNetV3Small(nn.Module):
    """torchvision mobilenet_v3_small: (B, H, W, 3) -> (B, num_classes); stride 32 overall."""

    num_classes: int = 10
    dropout: float = 0.2

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = _MbConvBN(16, 3, 2, act="hardswish", name="stem")(x, train)
        for i, cfg in enumerate(MBV3_SMALL):
            x = InvertedResidual(*cfg, name=f"block{i + 1}")(x, train)
        x = _MbConvBN(576, act="hardswish", name="last")(x, train)
        return _classifier(self, x, 1024, train)


# (kernel, expanded, out, activation, stride): the RRAM-NAS reference's table
MBV3_SMALL_RNC = (
    (3, 16, 16, "relu", 1),
    (3, 72, 24, "relu", 2),
    (3, 88, 24, "relu", 1),
    (5, 96, 40, "hardswish", 2),
    (5, 240, 40, "hardswish", 1),
    (5, 240, 40, "hardswish", 1),
    (5, 120, 48, "hardswish", 1),
    (5, 144, 48, "hardswish", 1),
    (5, 288, 96, "hardswish", 2),
    (5, 576, 96, "hardswish", 1),
    (5, 576, 96, "hardswish", 1),
)


class RNCBottleneck(nn.Module):
    """The reference's block: (B, H, W, C_in) -> (B, H/stride, W/stride, out).

    expand 1x1 + BN + act, depth-wise + BN + act, SE (1x1 convs without bias,
    BN, squeeze = expanded // 4), project 1x1 + BN + act, plus a residual that
    is a 1x1 conv + BN whenever the shape changes.
    """

    kernel: int
    expanded: int
    out: int
    act: str
    stride: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = _ConvBN(self.expanded, act=self.act, name="expand")(x, train)
        y = _ConvBN(self.expanded, self.kernel, self.stride, groups=self.expanded, act=self.act,
                    name="depthwise")(y, train)
        s = y.mean(axis=(1, 2), keepdims=True)
        s = _ConvBN(self.expanded // 4, act="relu", name="se_fc1")(s, train)
        s = _ConvBN(self.expanded, name="se_fc2")(s, train)
        y = y * nn.hard_sigmoid(s)
        y = _ConvBN(self.out, act=self.act, name="project")(y, train)
        if self.stride != 1 or x.shape[-1] != self.out:
            x = _ConvBN(self.out, stride=self.stride, name="downsample")(x, train)
        return x + y


class MobileNetV3SmallRNC(nn.Module):
    """The RRAM-NAS reference's MobileNetV3-small: (B, H, W, 3) -> (B, num_classes).

    Differs from torchvision: every block has an expand conv and an SE block,
    block 1 has stride 1, the SE squeeze is expanded // 4 (no rounding to 8),
    SE convs have no bias but BatchNorm, the project conv has an activation,
    every block is residual (a 1x1 conv + BN when the shape changes), the stem
    conv has a bias, and the classifier is 576 -> 1280 -> num_classes.
    """

    num_classes: int = 10
    dropout: float = 0.2

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = nn.Conv(16, (3, 3), strides=2, padding=_pad(3), name="stem")(x)
        x = nn.hard_swish(nn.BatchNorm(use_running_average=not train, momentum=0.9, name="stem_bn")(x))
        for i, cfg in enumerate(MBV3_SMALL_RNC):
            x = RNCBottleneck(*cfg, name=f"block{i + 1}")(x, train)
        x = _ConvBN(576, act="hardswish", name="last")(x, train)
        return _classifier(self, x, 1280, train)


# -------------------------------------------------------------------- ResNet-18


class BasicBlock(nn.Module):
    """(B, H, W, C_in) -> (B, H/stride, W/stride, features); conv1, conv2, then the shortcut."""

    features: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        y = _ConvBN(self.features, 3, self.stride, act="relu", name="conv1")(x, train)
        y = _ConvBN(self.features, 3, name="conv2")(y, train)
        if self.stride != 1 or x.shape[-1] != self.features:
            x = _ConvBN(self.features, stride=self.stride, name="downsample")(x, train)
        return nn.relu(x + y)


class ResNet18(nn.Module):
    """ResNet-18: (B, H, W, 3) -> (B, num_classes).

    torchvision stem (7x7/2 conv, 3x3/2 max-pool: 64x64 gives stages of 16, 8,
    4, 2) or, with ``cifar_stem``, a 3x3/1 conv and no pool (stages 64, 32, 16, 8).
    """

    num_classes: int = 10
    cifar_stem: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.cifar_stem:
            x = _ConvBN(64, 3, act="relu", name="stem")(x, train)
        else:
            x = _ConvBN(64, 7, 2, act="relu", name="stem")(x, train)
            x = nn.max_pool(x, (3, 3), (2, 2), padding=_pad(3))
        for stage, features in enumerate((64, 128, 256, 512)):
            for block in range(2):
                stride = 2 if stage > 0 and block == 0 else 1
                x = BasicBlock(features, stride, name=f"layer{stage + 1}_{block}")(x, train)
        return nn.Dense(self.num_classes, name="fc")(_global_pool(x))


# The RRAM-NAS reference's own model definitions (80 / 249 / 698 pieces at 64 x 64), by name;
# the torchvision layouts (MobileNetV3Small, ResNet18()) compile the same way.
RNC_NETWORKS = {"squeezenet": SqueezeNet11, "mobilenetv3_small": MobileNetV3SmallRNC,
                "resnet18": functools.partial(ResNet18, cifar_stem=True)}
