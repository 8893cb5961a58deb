"""Named hardware presets: the chips that experiments and the command line look up by name.

A preset is one chip someone built or modelled: its hardware spec (a
``CrossbarSpec`` with its device and converters, a ``CAMSpec`` or an
``IntegratorSpec``), the macro whose per-operation figures price it
(``analog.cost.MacroCosts``), the roles it can play in a system, and where its
numbers come from::

    from analog import presets
    spec = presets.spec("rram_20_80", role="programmed")       # a CrossbarSpec
    spec = spec.with_device(prog_sigma=0.05 * spec.device.window)
    presets.get("taox_40nm_random").macro                      # MacroCosts
    presets.names(role="random")                               # ['taox_40nm_random']

Roles: ``random`` (a random conductance source: forming statistics and a RESET
state, read through ``crossbar.from_conductances``), ``programmed`` (trained
weights written onto a window), ``ternary`` (LRS/HRS differential pairs),
``cam`` (a CAM cell array), ``integrator`` (the continuous-time solver's
op-amp integrators). Specs are built at lookup, so every lookup validates.
Every preset has ``ideal()``: the same chip with every non-ideality off.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from analog.cam import CAMSpec
from analog.converters import ADC, DAC
from analog.cost import MacroCosts
from analog.crossbar import CrossbarSpec
from analog.device import G_HRS, G_LRS, RRAM, TAOX_FORMED_STD
from analog.integrator import IntegratorSpec

__all__ = ["ROLES", "Preset", "PRESETS", "get", "spec", "names", "describe"]

ROLES = ("random", "programmed", "ternary", "cam", "integrator")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named chip: ``spec`` (hardware), ``macro`` (its cost figures), ``roles``, ``source``."""

    name: str
    description: str
    roles: tuple[str, ...]
    spec: Any
    macro: MacroCosts | None
    source: str

    def ideal(self) -> "Preset":
        """The same preset with every non-ideality of its spec off."""
        return dataclasses.replace(self, spec=self.spec.ideal())


_BUILDERS: dict[str, Callable[[], Preset]] = {}


def _preset(name: str, description: str, roles: tuple[str, ...], source: str, macro=MacroCosts.rram_40nm):
    def register(build_spec: Callable[[], Any]):
        _BUILDERS[name] = lambda: Preset(name, description, roles, build_spec(), macro() if macro else None, source)
        return build_spec
    return register


@_preset("taox_40nm_random", "40 nm TaOx 1T1R 256 Kb macro as a random source: formed N(34.06, 5.32) uS, "
         "half unformed, RESET N(2, 0.5) uS, 2 % read noise", ("random",),
         "DEPLM code utility/utils.py (forming statistics), run_seg.sh (read noise 0.02); edge-pruning "
         "README (512 x 512 TaOx, 14-bit ADS8324 ADCs); [assumed] RESET state and 6-bit inputs")
def _taox_random():
    return CrossbarSpec(device=RRAM.taox_40nm_random(), dac=DAC(6), adc=ADC(14, fullscale=64.0))


@_preset("prime_40nm_random", "40 nm macro as PRIME's random source: every cell formed, pair difference "
         "N(0, 6.35 uS), 2 % read noise", ("random",),
         "PRIME code Classification/layer.py (W ~ N(0, 6.352), test noise 0.02 W); converters as "
         "taox_40nm_random [assumed]")
def _prime_random():
    return CrossbarSpec(device=RRAM.prime_random(), dac=DAC(6), adc=ADC(14, fullscale=64.0))


@_preset("taox_40nm_programmed", "the 40 nm TaOx cells with trained weights written open loop onto the "
         "2-60 uS HRS-LRS window: 5.32 uS programming noise, 2 % read noise, 6-bit DAC, 14-bit ADC", ("programmed",),
         "[inferred] programming noise = the formed-state spread of the same cells (DEPLM utility/utils.py, "
         "sigma 5.32 uS); window analog.device.G_HRS / G_LRS; converters as taox_40nm_random; the edge-pruning "
         "paper's measured programming errors are not public")
def _taox_programmed():
    device = RRAM(g_min=G_HRS, g_max=G_LRS, clip_window=True, prog_sigma=TAOX_FORMED_STD, read_sigma_rel=0.02)
    return CrossbarSpec(device=device, dac=DAC(6), adc=ADC(14, fullscale=64.0))


@_preset("rram_20_80", "programmed analogue RRAM: 20-80 uS window, 2 uS programming noise, 2 % read noise, "
         "8-bit DAC and ADC", ("programmed",),
         "MrLinNing/RMAdaptiveMachine rram_eval_basic_learn_full.py (window, noise sweep 1-10 uS); "
         "[assumed] 8-bit converters, ADC full scale 8 cell pairs")
def _rram_20_80():
    return CrossbarSpec(device=RRAM.analog_20_80(prog_sigma=2e-6, read_sigma_rel=0.02), dac=DAC(8),
                        adc=ADC(8, fullscale=8.0))


@_preset("ternary_lrs_hrs", "binary LRS/HRS cells (60 / 2 uS, 3 uS spread, 2 % read noise) as ternary "
         "differential pairs, one full swing per column, 8-bit DAC and ADC", ("ternary",),
         "[assumed] the 40 nm TaOx window (analog.device.G_LRS / G_HRS); semantic-memory paper values not public")
def _ternary():
    # one full swing per column: a per-channel ternary alpha is the column's LRS - HRS
    return CrossbarSpec(device=RRAM.binary_lrs_hrs(), weight_scale="column", dac=DAC(8), adc=ADC(8, fullscale=16.0))


@_preset("rram_180nm_sde", "180 nm analogue RRAM for the diffusion solver: 0-100 uS window, weights written with "
         "N(0, 10 %) relative error truncated at 20 %, 2 % read noise, no converters in the loop", ("programmed",),
         "memristor-sde-diffusion unconditional/my_sde.py add_noise (W (1 + n), n ~ N(0, 0.1), |n| >= 0.2 "
         "redrawn U(-0.2, 0.2)) [inferred: its noise-aware training model as the write error]; [assumed] window, "
         "2 % read noise; the 180 nm macro's statistics are not public")
def _rram_180nm_sde():
    device = RRAM(g_min=0.0, g_max=100e-6, prog_sigma_rel=0.1, prog_rel_limit=0.2, read_sigma_rel=0.02)
    return CrossbarSpec(device=device)


@_preset("pcm_aihwkit", "IBM aihwkit's PCM statistical model (g_max 25 uS, drift, 1/f read noise) with "
         "global drift compensation, 7-bit DAC, 9-bit ADC", ("programmed",),
         "aihwkit src/aihwkit/inference/noise/pcm.py and IOParameters defaults (inp_res 7 bit, "
         "out_res 9 bit, out_bound 12)", macro=MacroCosts.isaac_like)
def _pcm():
    return CrossbarSpec(device=RRAM.pcm_aihwkit(), dac=DAC(7), adc=ADC(9, fullscale=12.0),
                        drift_compensation=True)


@_preset("ideal", "every non-ideality off: the digital computation", ("programmed", "ternary"),
         "none (the ideal limit)", macro=None)
def _ideal():
    return CrossbarSpec()


@_preset("tcam_40nm", "2T2R ternary CAM on the 40 nm TaOx LRS/HRS cells, 8-bit sense ADC", ("cam",),
         "analog.cam.CAMSpec.tcam_40nm (see its docstring)")
def _tcam():
    return CAMSpec.tcam_40nm()


@_preset("opamp_rc", "op-amp + capacitor integrator, tau 1 ms, 80 dB gain, 20 nV/sqrt(Hz), 1 us read hold",
         ("integrator",), "analog.integrator.IntegratorSpec.opamp_rc (all [assumed], see its docstring)")
def _opamp():
    return IntegratorSpec.opamp_rc()


PRESETS = tuple(_BUILDERS)


def get(name: str) -> Preset:
    """The preset called ``name`` (built and validated now)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown preset {name!r}: allowed {', '.join(PRESETS)}")
    return _BUILDERS[name]()


def spec(name: str, role: str | None = None):
    """The hardware spec of preset ``name``; with ``role``, check that it can play it."""
    preset = get(name)
    if role is not None:
        if role not in ROLES:
            raise ValueError(f"role = {role!r} is invalid: allowed one of {ROLES}")
        if role not in preset.roles:
            raise ValueError(f"preset {name!r} cannot be a {role!r} device (its roles: {preset.roles}); "
                             f"presets for {role!r}: {', '.join(names(role)) or 'none'}")
    return preset.spec


def names(role: str | None = None) -> list[str]:
    """Preset names, all or those that can play ``role``."""
    return [n for n in PRESETS if role is None or role in _BUILDERS[n]().roles]


def describe() -> str:
    """One line per preset: name, roles, description."""
    return "\n".join(f"{p.name:<22} {','.join(p.roles):<20} {p.description}" for p in map(get, PRESETS))
