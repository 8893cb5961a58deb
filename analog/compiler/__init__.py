"""Edge compiler: map whole networks onto a budget of crossbars.

Partition every layer's weight box into crossbar-sized pieces (``boxes``),
choose copies per layer with a mixed-integer program (``duplication``), pack the
pieces into crossbars (``packing``, ``search``), and time the layer-pipelined
stream (``latency``). ``compile`` does all four. Layer descriptions come from
``models.trace`` or are written by hand (``network``).
"""

from analog.compiler.boxes import Box, Pieces, layer_boxes, network_pieces, partition
from analog.compiler.mapping import Mapping, compile
from analog.compiler.duplication import duplicate
from analog.compiler.latency import ideal_latency, layer_durations, pipeline_latency
from analog.compiler.network import CompilerSpec, Layer, Network
from analog.compiler.packing import Placement, check_placement, pack

__all__ = [
    "Box", "Pieces", "layer_boxes", "network_pieces", "partition", "Mapping", "compile",
    "duplicate", "ideal_latency", "layer_durations", "pipeline_latency", "CompilerSpec",
    "Layer", "Network", "Placement", "check_placement", "pack",
]
