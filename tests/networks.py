"""Hostile ONNX networks for the tests: graphs with the inputs of one of the shipped model's
networks (x (B, T, width) float32, lengths (B,) int64) that do what a network in a model folder
must never do. ``name`` picks which network's place they take: the convnet (the default) or
the metapredict member."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from idr_kit.convnet.members import COLUMNS, NETWORK_FILE as MEMBER_FILE
from idr_kit.convnet.track import NETWORK_FILE, inputs_of

# The shipped model's networks: the width of x each reads and the name of its output.
SLOTS = {NETWORK_FILE: (inputs_of(("metapredict",)), "probs"), MEMBER_FILE: (len(COLUMNS), "scores")}


def _onnx():
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    return onnx, TensorProto, helper, numpy_helper


def graph_model(nodes, initializers=(), *, name: str = NETWORK_FILE,
                output_shape=("batch", "residues"), output_type=None, inputs=None) -> bytes:
    """A model of ``nodes`` reading x and lengths and writing ``logits``, renamed to the output
    of the network ``name``."""
    onnx, TensorProto, helper, _ = _onnx()
    width, output_name = SLOTS[name]
    inputs = inputs or [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "residues", width]),
        helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])]
    nodes = list(nodes) + [helper.make_node("Identity", ["logits"], [output_name])]
    output = helper.make_tensor_value_info(output_name, output_type or TensorProto.FLOAT,
                                           list(output_shape) if output_shape is not None
                                           else None)
    graph = helper.make_graph(list(nodes), "hostile", inputs, [output], list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def first_feature(output: str = "logits"):
    """Nodes taking x[:, :, 0] as (B, T) logits."""
    _, _, helper, numpy_helper = _onnx()
    index = numpy_helper.from_array(np.array(0, np.int64), "zero")
    return [helper.make_node("Gather", ["x", "zero"], [output], axis=2)], [index]


def external_data_network(secret_name: str = "secret.bin", name: str = NETWORK_FILE) -> bytes:
    """Logits = x[:, :, 0] + w[0], where w is stored as external data in ``secret_name``:
    ONNX Runtime would read that file relative to the working folder."""
    onnx, TensorProto, helper, numpy_helper = _onnx()
    nodes, inits = first_feature("f")
    weight = external_tensor("w", [4], secret_name)
    zero = numpy_helper.from_array(np.array([0], np.int64), "first")
    nodes += [helper.make_node("Gather", ["w", "first"], ["w0"], axis=0),
              helper.make_node("Add", ["f", "w0"], ["logits"])]
    return graph_model(nodes, [*inits, weight, zero], name=name)


def external_tensor(name: str, dims: list[int], location: str):
    """A float32 tensor whose values ONNX Runtime reads from the file ``location``."""
    _, TensorProto, _, _ = _onnx()
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims,
                         data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", "0"),
                       ("length", str(4 * int(np.prod(dims))))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def huge_constant_network(side: int, name: str = NETWORK_FILE) -> bytes:
    """A few hundred bytes asking for side x side float32 when run."""
    _, TensorProto, helper, numpy_helper = _onnx()
    nodes, inits = first_feature("f")
    shape = numpy_helper.from_array(np.array([side, side], np.int64), "shape")
    one = numpy_helper.from_array(np.array([1.0], np.float32), "one")
    nodes += [helper.make_node("ConstantOfShape", ["shape"], ["big"], value=one),
              helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
              helper.make_node("Mul", ["f", "total"], ["logits"])]
    return graph_model(nodes, [*inits, shape], name=name)


def bad_output_network(kind: str, name: str = NETWORK_FILE) -> bytes:
    """Networks whose outputs break the contract: ``nan``, ``short`` (one residue fewer),
    ``fixed`` (always (1, 5)), ``3d`` (B, T, F), ``scalar``."""
    _, TensorProto, helper, numpy_helper = _onnx()
    if kind == "nan":
        nodes, inits = first_feature("f")
        nan = numpy_helper.from_array(np.array(np.nan, np.float32), "nan")
        return graph_model(nodes + [helper.make_node("Mul", ["f", "nan"], ["logits"])],
                           [*inits, nan], name=name)
    if kind == "short":
        nodes, inits = first_feature("f")
        bounds = [numpy_helper.from_array(np.array([v], np.int64), name)
                  for v, name in ((0, "start"), (-1, "end"), (1, "axis"))]
        return graph_model(nodes + [helper.make_node("Slice", ["f", "start", "end", "axis"],
                                                     ["logits"])], [*inits, *bounds], name=name)
    if kind == "fixed":
        shape = numpy_helper.from_array(np.array([1, 5], np.int64), "shape")
        zero = numpy_helper.from_array(np.array([0.0], np.float32), "zero")
        return graph_model([helper.make_node("ConstantOfShape", ["shape"], ["logits"],
                                             value=zero)], [shape], name=name)
    if kind == "3d":
        return graph_model([helper.make_node("Identity", ["x"], ["logits"])], name=name,
                           output_shape=("batch", "residues", SLOTS[name][0]))
    if kind == "scalar":
        return graph_model([helper.make_node("ReduceSum", ["x"], ["logits"], keepdims=0)],
                           output_shape=(), name=name)
    raise ValueError(kind)


def wrong_inputs_network(name: str = NETWORK_FILE) -> bytes:
    """A network that reads ``tokens`` (B, T) int64: not what the kit feeds any of its own."""
    _, TensorProto, helper, _ = _onnx()
    inputs = [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "residues"])]
    return graph_model([helper.make_node("Cast", ["tokens"], ["logits"], to=TensorProto.FLOAT)],
                       inputs=inputs, name=name)


def with_network(shipped: Path, where: Path, network: bytes, name: str = NETWORK_FILE) -> Path:
    """A copy of the shipped model folder whose network ``name`` is ``network``, its record
    resealed (a crafted folder's author writes track.json too)."""
    from runs import reseal
    shutil.copytree(shipped, where)
    (where / name).write_bytes(network)
    reseal(where)
    return where
