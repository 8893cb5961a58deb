"""Energy (J) and latency (s) of a workload, from its operation counts.

Analog layers count what they did (``crossbar.op_counts``, flax ``sow`` into a
``"cost"`` collection); this module prices the counts for an analogue RRAM macro
(:class:`MacroCosts`) and for a digital platform running the same workload
(:class:`DigitalCosts`), and compares the two (:func:`compare`).

Count keys (floats; missing = 0; any other key is a ``ValueError``): ``macs``
(analogue multiply-accumulates), ``array_reads`` (tile activations: one input
vector or bit-plane on one tile), ``array_cycles`` (sequential read cycles, tiles
in parallel), ``dac_conversions``, ``adc_conversions``, ``digital_ops``
(partial-sum and shift-add additions), ``cam_searches`` (queries on one CAM
array), ``cam_cells`` (cells compared), ``integrator_time`` (s of analogue
integration), ``integrator_channel_seconds`` (s x channels),
``array_tile_seconds`` (s x tiles conducting during a continuous-time solve, every
cell of a touched tile counted), ``array_cell_seconds`` (s x cells conducting: only
the cells a layer uses),
``neuron_updates`` (leaky integrate-and-fire state updates), ``programming_pulses``
(write pulses: ``crossbar.program`` / ``program_verify``, forming, mask flips);
digital baseline only: ``flops`` (replaces 2 x macs), ``layers`` (layer
evaluations, i.e. kernel launches).

Analogue model: every count kind has one row in :data:`PRICES`, (report group,
energy per count, latency per count), the per-count figures being
:class:`MacroCosts` fields::

    E = sum_k count_k x energy_k      T = sum_k count_k x latency_k
    e.g. array_reads x array_read_j, array_cycles x cycle_s,
         array_tile_seconds x array_w, integrator_time x 1 (it *is* time)

CAM searches and write pulses count as sequential (an upper bound; divide
``cam_search_s`` / ``program_pulse_s`` by the parallelism to refine); neuron
updates run in parallel with the array read of their time step (no latency).

Adding a count kind (two places, plus where it is counted):
1. a row in ``PRICES``: ``"my_count": ("group", "my_energy_j", "my_latency_s")``
   (None where it costs no energy or time; a number for a fixed factor), and the
   :class:`MacroCosts` fields it names, each default with its source beside it
   (and in the presets' classmethods if they differ);
2. if the digital baseline does the same work, an ``ops_per_...`` field of
   :class:`DigitalCosts` and its term in :func:`digital_cost`;
3. count it where the work happens (an ``op_counts`` in ``analog/``, sown by the
   layer in ``models/``) and test the hand-computed price.

Dynamic inference (early exit, early stop, spikes): :func:`stage_counts` splits
a sown ``"cost"`` tree by stage, :func:`dynamic_counts` weights each stage's
counts by the fraction of inputs or time steps that ran it; with every
fraction 1 it is the static count.

Digital model (board power x runtime, the way GPU baselines are measured)::

    ops = (flops if given else 2 macs) + cam_cells ops_per_cam_cell
        + neuron_updates ops_per_neuron_update

``digital_ops`` (partial-sum and shift-add work that exists only because of
analogue tiling) is not part of the digital workload.
    T   = ops / (peak_flops utilisation) + layers layer_overhead_s
    E   = power_w ops / (peak_flops utilisation)   (energy at throughput: overheads amortised)

Continuous-time solvers: what an analogue integrator does cannot be turned into
digital solver steps from counts alone (that depends on the solver, tolerance
and stiffness), so a baseline for a workload with integrator counts needs an
explicit ``flops`` (steps x evaluations x FLOPs per evaluation of the digital
solver); :func:`digital_cost` raises otherwise. Array reads, conversions and
write pulses have no digital counterpart and are ignored there.

All of it is plain arithmetic, so it runs under ``jit`` / ``vmap``; with
Python-float inputs the results are Python floats.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from analog.device import TAOX_FORMED_MEAN
from analog.spec import check_range, is_concrete, spec, static

__all__ = ["PRICES", "ANALOG_KEYS", "COUNT_KEYS", "MNSIM_T_DAC_S", "MNSIM_T_READ_S", "MNSIM_T_ADC_S",
           "MNSIM_T_DIGITAL_S", "collect", "stage_counts", "dynamic_counts", "array_read_energy",
           "array_power", "adc_energy", "MacroCosts", "DigitalCosts", "analog_cost", "digital_cost",
           "compare", "compiled_flops"]

# count key -> (report group, MacroCosts energy field per count, latency field per count)
PRICES = {
    "macs": (None, None, None),                     # the array reads price the MACs
    "array_reads": ("array", "array_read_j", None),
    "array_cycles": ("array", None, "cycle_s"),
    "dac_conversions": ("dac", "dac_j", None),
    "adc_conversions": ("adc", "adc_j", None),
    "digital_ops": ("digital", "digital_op_j", None),
    "cam_searches": ("cam", "cam_search_j", "cam_search_s"),
    "cam_cells": ("cam", "cam_cell_j", None),
    "integrator_time": ("integrator", None, 1.0),   # seconds of wall-clock solve
    "integrator_channel_seconds": ("integrator", "integrator_w", None),
    "array_tile_seconds": ("conduction", "array_w", None),
    "array_cell_seconds": ("conduction", "cell_w", None),
    "neuron_updates": ("neuron", "neuron_update_j", None),
    "programming_pulses": ("program", "program_pulse_j", "program_pulse_s"),
}
ANALOG_KEYS = tuple(PRICES)
COUNT_KEYS = ANALOG_KEYS + ("flops", "layers")

# MNSIM-2.0 timing of the RRAM-NAS reference (ArChiiii/rram_nas_comp_pack SimConfig.ini,
# MNSIM/Latency_Model/PE_latency.py): one bit-serial plane = DAC + crossbar read + ADC; one
# input vector = 8 planes + digital = 152.77 ns through a <= 128 x 128 box. The one home of
# these figures: analog.compiler.CompilerSpec and MacroCosts.rram_40nm both use them.
MNSIM_T_DAC_S = 3.0e-9           # MNSIM SimConfig: 1-bit DAC latency
MNSIM_T_READ_S = 3.16e-9         # MNSIM SimConfig Read_Latency (NTHU ISSCC 2019 macro)
MNSIM_T_ADC_S = (8 + 2) / 1.28e9  # ISAAC 8-bit SAR ADC at 1.28 GS/s: 7.8125 ns
MNSIM_T_DIGITAL_S = 40.99e-9     # shift-add / accumulate / buffer: the rest of 152.77 ns per vector

# ------------------------------------------------------------ shared constants
# ISAAC (Shafiee et al., ISCA 2016, Table 6; 32 nm): one IMA holds 8 crossbars of
# 128x128 cells read every 100 ns, 8x128 1-bit DACs, 8 ADCs (8 bit, 1.28 GS/s),
# 4 shift-and-add units.
_ISAAC_CYCLE_S = 100e-9                        # ISAAC crossbar read cycle: 128 columns / 1.28 GS/s
_ISAAC_ADC_J = 2e-3 / 1.28e9                   # ISAAC ADC 2 mW at 1.28 GS/s -> 1.5625 pJ per 8-bit conversion
_ISAAC_ARRAY_J = 2.4e-3 / 8 * _ISAAC_CYCLE_S   # ISAAC 8 arrays 2.4 mW -> 0.3 mW x 100 ns = 30 pJ per read
_ISAAC_DAC_J = 4e-3 / (8 * 128) * _ISAAC_CYCLE_S  # ISAAC 1024 1-bit DACs 4 mW -> 0.39 pJ per conversion
_ISAAC_SA_J = 0.2e-3 / (8 * 1.28e9)            # ISAAC S+A 0.2 mW fed by 8 ADCs at 1.28 GS/s -> 19.5 fJ/add
# CAM: "An Energy-efficient Capacitive-RRAM Content Addressable Memory", arXiv 2401.09207
# (0.18 um 3T1R1C TCAM, 64x64): 1.71 fJ/bit-search on match, 4.69 on miss; 875 MHz clock.
_CAM_CELL_J = 4.69e-15                         # arXiv 2401.09207 miss figure (most cells mismatch)
_CAM_SEARCH_J = 0.0                            # [assumed] periphery already inside the per-bit figure
_CAM_SEARCH_S = 3 / 875e6                      # arXiv 2401.09207: 3 cycles at 875 MHz = 3.43 ns
_INTEGRATOR_W = 100e-6                         # [assumed] op-amp + capacitor integrator channel, ~MHz
#   bandwidth in CMOS draws 10s-100s of uW; paper (c)/(e) values are not in the public notes yet
# Neuron: NeuRRAM (Wan et al., Nature 2022, 130 nm) integrate-and-fire neuron, as tabulated in
# accelergy's hwcomponents-library (neurram.py): "integrator" 0.25 pJ per neuron operation.
_NEURON_UPDATE_J = 0.25e-12
# Programming: MNSIM-2.0 SimConfig.ini as used by RNC (ArChiiii/rram_nas_comp_pack):
# Write_Voltage 3 V, Write_Latency 10 ns, LRS 10 kOhm -> V^2 / R_LRS x t (upper bound).
_PROGRAM_PULSE_S = 10e-9                       # MNSIM SimConfig Write_Latency
_PROGRAM_PULSE_J = 3.0**2 / 1e4 * _PROGRAM_PULSE_S  # = 9 pJ


def _walk(node: Any, name: str | None, out: dict) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _walk(value, str(key), out)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _walk(item, name, out)
    else:
        if name is None:
            raise ValueError(f"count leaf {node!r} has no key name: counts must be a dict")
        if isinstance(node, numbers.Number):
            value = float(node)
        elif isinstance(node, np.ndarray):
            value = float(node.sum())
        else:
            value = jnp.sum(node)  # jax array or tracer
        out[name] = out.get(name, 0.0) + value


def collect(tree: Any) -> dict[str, Any]:
    """Sum every leaf of a (nested) counts tree by its innermost dict key.

    ``tree`` is a flat dict of counts or a nested dict (e.g. a flax ``"cost"``
    collection ``{"Dense_0": {"macs": (123.0,)}, ...}``); values may be numbers,
    arrays (summed over all elements) or tuples/lists of them (as ``sow`` stores).
    Returns ``{key: total}``: Python floats for concrete numbers, JAX scalars
    otherwise. Key names are not checked here; the cost functions check them.
    """
    out: dict[str, Any] = {}
    _walk(tree, None, out)
    return out


def stage_counts(tree: Any) -> dict[str, dict[str, Any]]:
    """Split a sown ``"cost"`` tree by its top-level entries (the stages: the
    model's direct submodules) and ``collect`` each: ``{stage: {key: total}}``.
    Counts sown at the top level itself form the stage ``""``."""
    stages: dict[str, Any] = {}
    for name, node in tree.items():
        if isinstance(node, Mapping):
            stages[str(name)] = collect(node)
        else:
            top = collect({name: node})
            stages.setdefault("", {}).update({k: stages.get("", {}).get(k, 0.0) + v for k, v in top.items()})
    return stages


def dynamic_counts(stages: Mapping[str, Any], fractions: Mapping[str, Any]) -> dict[str, Any]:
    """Counts of a dynamic model whose stages run for only part of the work.

    stages: ``{stage: counts}`` of one full (static) pass, e.g. :func:`stage_counts`
        of the sown ``"cost"`` collection.
    fractions: ``{stage: f}`` with f in [0, 1] the measured fraction of inputs (early
        exit) or time steps (early stop) that ran the stage, or ``{stage: {key: f}}``
        to scale single count kinds (e.g. spike activity on ``array_reads``);
        stages or keys not named run always (f = 1).
    Returns ``{key: sum_stage f x count}``; with every f = 1 the static totals.
    """
    unknown = sorted(set(fractions) - set(stages))
    if unknown:
        raise ValueError(f"fractions name unknown stage(s) {unknown}; stages are {sorted(stages)}")
    total: dict[str, Any] = {}
    for stage, counts in stages.items():
        share = fractions.get(stage, 1.0)
        for key, value in collect(counts).items():
            f = share.get(key, 1.0) if isinstance(share, Mapping) else share
            if is_concrete(f) and not 0.0 <= float(f) <= 1.0:
                raise ValueError(f"fraction of stage {stage!r} ({key}) = {f!r} is invalid: allowed [0, 1]")
            total[key] = total.get(key, 0.0) + f * value
    return total


def _counts(counts: Any) -> dict[str, Any]:
    """Collect, reject unknown keys (typos) and negative concrete counts."""
    flat = collect(counts)
    unknown = sorted(set(flat) - set(COUNT_KEYS))
    if unknown:
        raise ValueError(f"unknown count key(s) {unknown} (typo?); known keys are {list(COUNT_KEYS)}")
    for key, value in flat.items():
        if is_concrete(value) and not (np.isfinite(value) and value >= 0):
            raise ValueError(f"count {key!r} = {value!r} is invalid: allowed a finite number >= 0")
    return flat


def array_read_energy(v_read, g_mean, rows, cols, t_read, activity=1.0):
    """Energy (J) of one array read: ``V_read^2 x G_mean x rows x cols x t_read x activity``.

    v_read (V) across each driven cell, g_mean (S) mean cell conductance, rows x
    cols cells (count both cells of a differential pair), t_read (s) read pulse,
    activity: fraction of rows driven (about 0.5 for random 1-bit input planes).
    Ohmic dissipation in the cells only (no line or driver losses).
    """
    return v_read**2 * g_mean * rows * cols * t_read * activity


def array_power(v_read, g_mean, rows, cols, activity=1.0):
    """Power (W) of one conducting array: ``V_read^2 x G_mean x rows x cols x activity``,
    i.e. :func:`array_read_energy` per second (continuous-time operation; activity:
    mean square input voltage as a fraction of V_read^2)."""
    return v_read**2 * g_mean * rows * cols * activity


def adc_energy(bits: int, scaling: str = "linear", ref_j: float = _ISAAC_ADC_J, ref_bits: int = 8) -> float:
    """Energy (J) per conversion of a ``bits``-bit ADC, scaled from a reference.

    Reference: ISAAC's 8-bit SAR ADC, 1.5625 pJ. ``"linear"``: energy ~ bits (one
    SAR comparison per bit; Saberi et al. TCAS-I 2011 scaling of the ISAAC ADC, as
    tabulated in accelergy's hwcomponents library: 0.79 pJ at 4 bit vs 1.67 pJ at 8).
    ``"walden"``: constant Walden figure of merit, energy ~ 2**bits (right at high
    resolution, too optimistic below ~6 bit).
    """
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16:
        raise ValueError(f"bits = {bits!r} is invalid: allowed an integer in [1, 16]")
    if scaling == "linear":
        return ref_j * bits / ref_bits
    if scaling == "walden":
        return ref_j * 2.0 ** (bits - ref_bits)
    raise ValueError(f"scaling = {scaling!r} is invalid: allowed one of ('linear', 'walden')")


@spec
class MacroCosts:
    """Per-operation energy (J) and latency (s) of an analogue RRAM macro.

    Energies (J): array_read_j per tile activation (one input plane on one tile);
    dac_j, adc_j per conversion; digital_op_j per partial-sum / shift-add addition;
    cam_search_j per search of one CAM array (periphery), cam_cell_j per cell
    compared; program_pulse_j per write pulse; neuron_update_j per LIF update.
    Powers (W): integrator_w per running integrator channel, array_w per array
    conducting in continuous time, cell_w per cell conducting in continuous time.
    Latencies (s): cycle_s per read cycle (DAC + array + ADC + digital, one input
    plane), cam_search_s per CAM search, program_pulse_s per write pulse.
    name: label for reports.
    """

    array_read_j: float
    dac_j: float
    adc_j: float
    digital_op_j: float
    cycle_s: float
    cam_search_j: float = _CAM_SEARCH_J
    cam_cell_j: float = _CAM_CELL_J
    integrator_w: float = _INTEGRATOR_W
    array_w: float = 0.0
    cell_w: float = 0.0
    neuron_update_j: float = _NEURON_UPDATE_J
    program_pulse_j: float = _PROGRAM_PULSE_J
    cam_search_s: float = _CAM_SEARCH_S
    program_pulse_s: float = _PROGRAM_PULSE_S
    name: str = static("custom")

    def validate(self):
        for field in ("array_read_j", "dac_j", "adc_j", "digital_op_j", "cam_search_j",
                      "cam_cell_j", "integrator_w", "array_w", "cell_w", "neuron_update_j", "program_pulse_j",
                      "cam_search_s", "program_pulse_s"):
            check_range(self, field, 0.0)
        check_range(self, "cycle_s", 0.0, lo_open=True)

    @classmethod
    def isaac_like(cls, adc_bits: int = 8, adc_scaling: str = "linear") -> "MacroCosts":
        """ISAAC (ISCA 2016, 32 nm): 128x128 arrays, 1-bit DACs, 8-bit 1.28 GS/s ADCs.

        30 pJ per array read, 0.39 pJ per DAC, 1.5625 pJ per 8-bit ADC conversion
        (other widths via :func:`adc_energy`), 19.5 fJ per shift-add, 100 ns per
        cycle. CAM, integrator and programming figures are not ISAAC's (see the
        module constants).
        """
        return cls(
            array_read_j=_ISAAC_ARRAY_J,              # ISAAC Table 6 (see constants)
            dac_j=_ISAAC_DAC_J,                       # ISAAC Table 6
            adc_j=adc_energy(adc_bits, adc_scaling),  # ISAAC Table 6, scaled to adc_bits
            digital_op_j=_ISAAC_SA_J,                 # ISAAC Table 6 shift-and-add
            cycle_s=_ISAAC_CYCLE_S,                   # ISAAC crossbar read cycle
            array_w=_ISAAC_ARRAY_J / _ISAAC_CYCLE_S,  # ISAAC Table 6: 0.3 mW per crossbar
            cell_w=_ISAAC_ARRAY_J / _ISAAC_CYCLE_S / (128 * 128),  # the same, per cell of the 128 x 128 array
            name="isaac_like",
        )

    @classmethod
    def rram_40nm(cls, rows: int = 128, cols: int = 128, adc_bits: int = 8,
                  adc_scaling: str = "linear") -> "MacroCosts":
        """The group's 40 nm TaOx 1T1R macro (papers a, f, g) with MNSIM-2.0 timing.

        Array energy from :func:`array_read_energy` with the measured conductance
        statistics; converters from ISAAC (32 nm, the closest published node);
        timing from the MNSIM-2.0 config of the RNC compiler (notes section h):
        8 bit-serial planes through a <=128x128 box take 152.77 ns. rows x cols
        are cells: a differential tile of C weight columns has cols = 2 C. The
        macro's own per-op energies are in the papers' supplements, which the notes do not have yet.
        """
        cells = dict(
            v_read=0.2,               # [assumed] CrossbarSpec default; notes give 0.1-0.2 V
            g_mean=0.5 * TAOX_FORMED_MEAN,  # DEPLM utility/utils.py: formed cells N(34.06, 5.32) uS, half unformed
            rows=rows, cols=cols,
            activity=0.5,             # [assumed] random 1-bit input planes drive half the rows
        )
        return cls(
            array_read_j=array_read_energy(t_read=MNSIM_T_READ_S, **cells),  # MNSIM read pulse [assumed for 40 nm]
            array_w=array_power(**cells),             # the same cells conducting continuously
            cell_w=array_power(**{**cells, "rows": 1, "cols": 1}),  # one of them
            dac_j=_ISAAC_DAC_J,                       # [assumed] ISAAC 1-bit DAC, 32 nm
            adc_j=adc_energy(adc_bits, adc_scaling),  # [assumed] ISAAC ADC, 32 nm, scaled
            digital_op_j=0.1e-12,     # Horowitz ISSCC 2014, 45 nm: 32-bit integer add 0.1 pJ
            cycle_s=MNSIM_T_DAC_S + MNSIM_T_READ_S + MNSIM_T_ADC_S + MNSIM_T_DIGITAL_S / 8,  # MNSIM, per plane
            name="rram_40nm",
        )

    @classmethod
    def from_physics(cls, v_read, g_mean, rows, cols, t_read, *, activity=1.0,
                     base: "MacroCosts | None" = None) -> "MacroCosts":
        """``base`` (default :meth:`rram_40nm`) with the array energy from cell physics.

        See :func:`array_read_energy` for the arguments and their units.
        """
        base = cls.rram_40nm(rows, cols) if base is None else base
        return base.replace(array_read_j=array_read_energy(v_read, g_mean, rows, cols, t_read, activity),
                            array_w=array_power(v_read, g_mean, rows, cols, activity),
                            cell_w=array_power(v_read, g_mean, 1, 1, activity))


_GPU_PEAK = {"fp32": 19.5e12, "tf32": 156e12, "fp16": 312e12}  # A100 datasheet, dense FLOP/s


@spec
class DigitalCosts:
    """A digital platform: peak throughput, utilisation, power, per-layer overhead.

    peak_flops: peak FLOP/s. utilisation: achieved fraction of peak, (0, 1].
    power_w: power drawn while running (W), charged over the whole runtime.
    layer_overhead_s: fixed latency per layer evaluation (kernel launch, dispatch).
    ops_per_cam_cell: digital ops per CAM cell compared.
    ops_per_neuron_update: digital ops per LIF neuron update.
    name: label for reports.
    """

    peak_flops: float
    utilisation: float
    power_w: float
    layer_overhead_s: float
    ops_per_cam_cell: float = 3 / 32  # [assumed] ternary match as XOR, AND-mask, popcount on 32-bit words
    ops_per_neuron_update: float = 4.0  # [assumed] LIF: decay multiply, add input, compare, reset select
    name: str = static("custom")

    def validate(self):
        check_range(self, "peak_flops", 0.0, lo_open=True)
        check_range(self, "utilisation", 0.0, 1.0, lo_open=True)
        check_range(self, "power_w", 0.0, lo_open=True)
        check_range(self, "layer_overhead_s", 0.0)
        check_range(self, "ops_per_cam_cell", 0.0)
        check_range(self, "ops_per_neuron_update", 0.0)

    @property
    def energy_per_op_j(self):
        """Energy per FLOP (J) at the stated utilisation, memory traffic included."""
        return self.power_w / (self.peak_flops * self.utilisation)

    @classmethod
    def gpu(cls, precision: str = "fp32", utilisation: float = 0.5) -> "DigitalCosts":
        """NVIDIA A100 SXM4: 400 W; 19.5 (fp32) / 156 (tf32) / 312 (fp16) dense TFLOP/s.

        At fp32 and 50 % utilisation: 41 pJ per FLOP.
        """
        if precision not in _GPU_PEAK:
            raise ValueError(f"precision = {precision!r} is invalid: allowed one of {tuple(_GPU_PEAK)}")
        return cls(
            peak_flops=_GPU_PEAK[precision],  # A100 datasheet (nvidia-a100-datasheet r4)
            utilisation=utilisation,          # [assumed] typical for mid-size inference kernels
            power_w=400.0,                    # A100 SXM4 max TDP, datasheet (board power)
            layer_overhead_s=10e-6,           # [assumed] kernel launch 5-20 us (NVIDIA Nsight guide: ~20 us
            #                                   PyTorch elementwise round trip on V100)
            name=f"a100_{precision}",
        )

    @classmethod
    def cpu(cls, utilisation: float = 0.3) -> "DigitalCosts":
        """AMD Ryzen 9 5950X desktop CPU, all 16 cores, fp32 AVX2.

        16 cores x 3.4 GHz x 32 FLOP/cycle = 1.74 TFLOP/s peak; 105 W; at 30 %
        utilisation 201 pJ per FLOP.
        """
        return cls(
            peak_flops=16 * 3.4e9 * 32,  # AMD spec: 16 cores, 3.4 GHz base; Zen 3: 2x 256-bit FMA/cycle
            #                              = 16 fp32 FMA = 32 FLOP/cycle/core (AMD Family 19h SOG)
            utilisation=utilisation,     # [assumed] blocked GEMM reaches 60-80 %, small layers far less
            power_w=105.0,               # AMD spec: 105 W TDP
            layer_overhead_s=2e-6,       # [assumed] framework op dispatch on CPU, ~1-5 us
            name="ryzen9_5950x",
        )


def analog_cost(counts: Any, macro: MacroCosts) -> dict[str, Any]:
    """Energy (J) and latency (s) of ``counts`` on ``macro`` (model in the module doc).

    ``counts``: a flat or nested counts dict (see :func:`collect`). Returns
    ``energy_j``, ``latency_s`` and the breakdown by the groups of :data:`PRICES`:
    ``energy_{array,dac,adc,digital,cam,integrator,conduction,neuron,program}_j``,
    ``latency_{array,cam,integrator,program}_s``.
    """
    c = _counts(counts)
    out: dict[str, Any] = {}
    for key, (group, energy, latency) in PRICES.items():
        for kind, unit, price in (("energy", "j", energy), ("latency", "s", latency)):
            if group is None or price is None:
                continue
            per_count = price if isinstance(price, float) else getattr(macro, price)
            name = f"{kind}_{group}_{unit}"
            out[name] = out.get(name, 0.0) + c.get(key, 0.0) * per_count
    out["energy_j"] = sum(v for k, v in out.items() if k.startswith("energy_"))
    out["latency_s"] = sum(v for k, v in out.items() if k.startswith("latency_"))
    return out


def digital_cost(counts: Any, platform: DigitalCosts) -> dict[str, Any]:
    """Energy (J) and latency (s) of the same workload on a digital ``platform``.

    Returns ``energy_j``, ``latency_s``, ``ops`` (FLOPs incl. digital and CAM
    ops), ``latency_compute_s`` and ``latency_overhead_s``. Raises ``ValueError``
    if ``counts`` has integrator keys but no explicit ``"flops"`` (module doc).
    """
    c = _counts(counts)
    if "flops" not in c and any(k in c for k in ("integrator_time", "integrator_channel_seconds",
                                                  "array_tile_seconds")):
        raise ValueError(
            "counts contain analogue integrator time, which has no FLOP equivalent: pass "
            "counts['flops'] = FLOPs of the digital solver (steps x evaluations x FLOPs each)"
        )
    flops = c["flops"] if "flops" in c else 2.0 * c.get("macs", 0.0)
    ops = (flops + c.get("cam_cells", 0.0) * platform.ops_per_cam_cell
           + c.get("neuron_updates", 0.0) * platform.ops_per_neuron_update)
    compute_s = ops / (platform.peak_flops * platform.utilisation)
    overhead_s = c.get("layers", 0.0) * platform.layer_overhead_s
    latency = compute_s + overhead_s
    return {
        # Energy at throughput: launch overheads are amortised over a batch and
        # the board does not burn full power while it waits, so only compute counts.
        "energy_j": platform.power_w * compute_s,
        "latency_s": latency,
        "ops": ops,
        "latency_compute_s": compute_s,
        "latency_overhead_s": overhead_s,
    }


def _ratio(num, den, what: str):
    if is_concrete(den) and den == 0:
        raise ValueError(f"analogue {what} is zero (no counted work): the ratio is undefined")
    return num / den


def compare(counts: Any, macro: MacroCosts, baseline: DigitalCosts) -> dict[str, Any]:
    """Digital ``baseline`` vs analogue ``macro`` on the same counts.

    Returns ``energy_ratio`` and ``latency_ratio`` (baseline / analogue: > 1
    means the analogue macro wins) and both sides' ``{analog,digital}_energy_j``
    and ``{analog,digital}_latency_s``.
    """
    a = analog_cost(counts, macro)
    d = digital_cost(counts, baseline)
    return {
        "energy_ratio": _ratio(d["energy_j"], a["energy_j"], "energy"),
        "latency_ratio": _ratio(d["latency_s"], a["latency_s"], "latency"),
        "analog_energy_j": a["energy_j"],
        "analog_latency_s": a["latency_s"],
        "digital_energy_j": d["energy_j"],
        "digital_latency_s": d["latency_s"],
    }


def compiled_flops(fn, *args) -> float:
    """Floating-point operations of one call of ``fn(*args)`` as XLA counts them in
    the compiled program (``jit(fn).lower(*args).compile().cost_analysis()``): the
    counted digital work of a training step or an inference, for the ``flops`` of a
    digital baseline. Operations XLA hands to library calls it cannot see into
    (e.g. a LAPACK factorisation) are not in the count."""
    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    if not analysis or "flops" not in analysis:
        raise ValueError("compiled_flops: this backend's XLA reports no FLOP count (cost_analysis)")
    return float(analysis["flops"])
