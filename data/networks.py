"""ONNX networks of a model folder, opened as the untrusted input they are.

    session = open_network(data, threads, DISTILLED, source="model/distilled.onnx")
    outputs = run_network(session, {"x": x, "lengths": lengths}, source)

Before ONNX Runtime sees a network's bytes, they are scanned (``check_network_bytes``): a
tensor stored as external data, anywhere in the graph (initializers, constants, subgraphs,
sparse tensors, functions), would make ONNX Runtime read a file named by the network, relative
to the working folder; such a network is refused, as is one in ONNX Runtime's own format. The
session's declared inputs and outputs are then checked against what the kit feeds and expects
(names, element types, ranks, fixed sizes), before any protein is read. Every network runs on
one memory arena of at most ``MEMORY_LIMIT`` bytes, so a few hundred bytes of graph cannot
ask for gigabytes: running past it is one error naming the file.

ONNX Runtime is started here only, with its telemetry off (``ORT_DISABLE_TELEMETRY``: else it
keeps a device id and an event queue under the user's home folder) and its log quiet.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from idr_kit.data.cpus import cpu_budget
from idr_kit.data.errors import FileRefused

# ONNX Runtime's arena for every network of this process. The shipped network predicts
# valid.fasta (batches of 65,536 residues) in an arena of 384 MiB and fails in one of 192 MiB;
# a single protein of 105,000 residues fits in 384 MiB too (2026-12-05, this 2-core machine).
# A network of the kit's stays well under the limit; a hostile graph stops at it.
MEMORY_LIMIT = 1 << 30
MAX_DEPTH = 32  # graphs inside graphs (If, Loop, Scan bodies) the scan follows


@dataclass(frozen=True)
class Signature:
    """What the kit feeds a network and reads back: (name, element type, shape) each, a shape
    entry a str for a size the kit chooses (it must be free in the network) or an int for a
    fixed size."""
    inputs: tuple[tuple[str, str, tuple], ...]
    outputs: tuple[tuple[str, str, tuple], ...]


# ---- the scan ---------------------------------------------------------------------------------

# Where tensors live in ONNX's protobuf messages: message -> {field number: message}. The field
# numbers are onnx.proto's (tests/test_model_folders.py checks them against onnx's own).
TENSOR_PATHS = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "function": {7: "node", 11: "attribute"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse",
                  23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {},
}
TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION, EXTERNAL = 13, 14, 1
ORT_FORMAT_MARK = b"ORTM"  # bytes 4-8 of a network in ONNX Runtime's own (flatbuffer) format


def check_network_bytes(data: bytes, source: str) -> None:
    """FileRefused unless ``data`` is an ONNX model whose every tensor is held in its bytes."""
    if data[4:8] == ORT_FORMAT_MARK:
        raise FileRefused(f"{source}: a network in ONNX Runtime's own format; the kit reads "
                          "ONNX files only")
    try:
        _scan(memoryview(data), "model", 0, source)
    except _Malformed as err:
        raise FileRefused(f"{source}: not an ONNX network ({err})") from None


class _Malformed(Exception):
    pass


def _scan(data: memoryview, message: str, depth: int, source: str) -> None:
    if depth > MAX_DEPTH:
        raise FileRefused(f"{source}: graphs nested more than {MAX_DEPTH} deep")
    inner = TENSOR_PATHS[message]
    for number, wire, value in _fields(data):
        if message == "tensor" and (number == TENSOR_EXTERNAL_DATA or (
                number == TENSOR_DATA_LOCATION and wire == 0 and value == EXTERNAL)):
            raise FileRefused(f"{source}: the network keeps a tensor as external data (in "
                              "another file); a network must hold every weight in its own "
                              "bytes")
        if number in inner and wire == 2:
            _scan(value, inner[number], depth + 1, source)


def _fields(data: memoryview) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of a protobuf message: an int for varints, the bytes
    of a length-delimited field."""
    at, end = 0, len(data)
    while at < end:
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire in (1, 5):
            value, at = None, at + (8 if wire == 1 else 4)
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at:at + size], at + size
        else:
            raise _Malformed(f"wire type {wire}")
        if at > end or number == 0:
            raise _Malformed("truncated")
        yield number, wire, value


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise _Malformed("a truncated number")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


# ---- the runtime ------------------------------------------------------------------------------

_STARTED = False


def onnxruntime():
    """The onnxruntime module, started once with telemetry off, a quiet log and the bounded
    arena every network of this process runs on."""
    global _STARTED
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # read when the library loads
    import onnxruntime as ort
    if not _STARTED:
        ort.disable_telemetry_events()  # for a process that loaded the library before the kit
        ort.set_default_logger_severity(4)  # errors come back as exceptions, said once
        memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                   ort.OrtMemType.DEFAULT)
        # max_mem, then kSameAsRequested: the arena grows by what is asked, up to the limit
        ort.create_and_register_allocator(memory, ort.OrtArenaCfg(MEMORY_LIMIT, 1, -1, -1))
        _STARTED = True
    return ort


def open_network(data: bytes, threads: int, signature: Signature, source: str):
    """An ONNX Runtime session (CPU) on ``data``, scanned first and its inputs and outputs
    checked against ``signature``; FileRefused naming ``source`` otherwise."""
    check_network_bytes(data, source)
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_budget()  # ORT's own default: the machine's
    # Waiting threads sleep: spinning ones hold CPUs that other work, or a peer thread, needs
    # (idr-predict valid.fasta beside other work on 2 cores: 4.7 s of CPU before, 3.2 s now;
    # bench/bench_busy.py).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 4
    # No memory patterns: ONNX Runtime keeps a plan per input shape it has seen and never lets
    # go of one, so memory grew with the number of distinct batch shapes, that is with the
    # file: the shipped model peaked at 276, 439 and 559 MiB on 1, 10 and 50 MB of FASTA, and
    # at 236, 286 and 330 MiB without them (bench/bench_memory.py, 2026-12-08).
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.use_env_allocators", "1")
    options.add_session_config_entry("session.load_model_format", "ONNX")
    try:
        # No constant folding: ONNX Runtime 1.20 folds a ConstantOfShape of any size when the
        # session starts, outside the arena (6.4 GB for a graph of 300 bytes).
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"],
                                       disabled_optimizers=["ConstantFolding"])
    except Exception as err:  # noqa: BLE001 - ORT raises types of its own for damaged files
        raise FileRefused(f"{source}: not a network ONNX Runtime can read "
                          f"({_first_line(err)})") from None
    _check_signature(session.get_inputs(), signature.inputs, "input", source)
    _check_signature(session.get_outputs(), signature.outputs, "output", source)
    return session


def _run_options():
    """Each run hands its arena's free chunks back: ONNX Runtime keeps them otherwise, so the
    arena grew with the largest batches seen (idr-predict -o .npz --workers 1 on 1 and 10 MB of
    FASTA: the shipped model 236 -> 286 MiB without, 216 -> 242 MiB with; --fast 145 -> 167,
    137 -> 155; the same speed; bench/bench_memory.py, 2026-12-08)."""
    options = onnxruntime().RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


class ArenaFull(FileRefused):
    """A network asked for more than ``MEMORY_LIMIT``: on smaller inputs it may run."""


def run_network(session, feeds: dict[str, np.ndarray], source: str) -> list[np.ndarray]:
    """The session's outputs on ``feeds``; a network that fails is FileRefused naming
    ``source`` (ArenaFull when past the memory limit)."""
    try:
        return session.run(None, feeds, _run_options())
    except Exception as err:  # noqa: BLE001 - as above
        why, text = _first_line(err), str(err).lower()
        if "allocate" in text or "available memory" in text:
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in feeds.items())
            raise ArenaFull(f"{source}: the network failed: it asks for more memory than the "
                            f"{MEMORY_LIMIT >> 20:,} MiB a network may use, on inputs "
                            f"{shapes}") from None
        raise FileRefused(f"{source}: the network failed: {why}") from None


def _check_signature(found, wanted, kind: str, source: str) -> None:
    have = [(arg.name, arg.type, tuple(arg.shape) if arg.shape is not None else None)
            for arg in found]
    if [h[0] for h in have] != [w[0] for w in wanted]:
        raise FileRefused(f"{source}: a network of {kind}s {[h[0] for h in have]}, not the "
                          f"{[w[0] for w in wanted]} the kit uses")
    for (name, kind_found, shape), (_, kind_wanted, shape_wanted) in zip(have, wanted):
        fits = (kind_found == kind_wanted and shape is not None
                and len(shape) == len(shape_wanted)
                and all(want == got if isinstance(want, int) else not isinstance(got, int)
                        for want, got in zip(shape_wanted, shape)))
        if not fits:
            raise FileRefused(f"{source}: {kind} {name!r} is {kind_found} of shape "
                              f"{list(shape) if shape is not None else '?'}, not the "
                              f"{kind_wanted} of shape {list(shape_wanted)} the kit uses")


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]
