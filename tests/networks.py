"""Hostile ONNX networks for the tests: graphs with the distilled network's inputs (x (B, T, F)
float32, lengths (B,) int64) that do what a network in a model folder must never do."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from idr_kit.data.residue_features import FEATURES


def _onnx():
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    return onnx, TensorProto, helper, numpy_helper


def graph_model(nodes, initializers=(), *, output_shape=("batch", "residues"),
                output_type=None, inputs=None) -> bytes:
    """A model of ``nodes`` reading x and lengths and writing ``logits``."""
    onnx, TensorProto, helper, _ = _onnx()
    inputs = inputs or [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "residues", FEATURES]),
        helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])]
    output = helper.make_tensor_value_info("logits", output_type or TensorProto.FLOAT,
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


def external_data_network(secret_name: str = "secret.bin") -> bytes:
    """Logits = x[:, :, 0] + w[0], where w is stored as external data in ``secret_name``:
    ONNX Runtime would read that file relative to the working folder."""
    onnx, TensorProto, helper, numpy_helper = _onnx()
    nodes, inits = first_feature("f")
    weight = external_tensor("w", [4], secret_name)
    zero = numpy_helper.from_array(np.array([0], np.int64), "first")
    nodes += [helper.make_node("Gather", ["w", "first"], ["w0"], axis=0),
              helper.make_node("Add", ["f", "w0"], ["logits"])]
    return graph_model(nodes, [*inits, weight, zero])


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


def huge_constant_network(side: int) -> bytes:
    """A few hundred bytes asking for side x side float32 when run."""
    _, TensorProto, helper, numpy_helper = _onnx()
    nodes, inits = first_feature("f")
    shape = numpy_helper.from_array(np.array([side, side], np.int64), "shape")
    one = numpy_helper.from_array(np.array([1.0], np.float32), "one")
    nodes += [helper.make_node("ConstantOfShape", ["shape"], ["big"], value=one),
              helper.make_node("ReduceSum", ["big"], ["total"], keepdims=0),
              helper.make_node("Mul", ["f", "total"], ["logits"])]
    return graph_model(nodes, [*inits, shape])


def bad_output_network(kind: str) -> bytes:
    """Networks whose outputs break the contract: ``nan``, ``short`` (one residue fewer),
    ``fixed`` (always (1, 5)), ``3d`` (B, T, F), ``scalar``."""
    _, TensorProto, helper, numpy_helper = _onnx()
    if kind == "nan":
        nodes, inits = first_feature("f")
        nan = numpy_helper.from_array(np.array(np.nan, np.float32), "nan")
        return graph_model(nodes + [helper.make_node("Mul", ["f", "nan"], ["logits"])],
                           [*inits, nan])
    if kind == "short":
        nodes, inits = first_feature("f")
        bounds = [numpy_helper.from_array(np.array([v], np.int64), name)
                  for v, name in ((0, "start"), (-1, "end"), (1, "axis"))]
        return graph_model(nodes + [helper.make_node("Slice", ["f", "start", "end", "axis"],
                                                     ["logits"])], [*inits, *bounds])
    if kind == "fixed":
        shape = numpy_helper.from_array(np.array([1, 5], np.int64), "shape")
        zero = numpy_helper.from_array(np.array([0.0], np.float32), "zero")
        return graph_model([helper.make_node("ConstantOfShape", ["shape"], ["logits"],
                                             value=zero)], [shape])
    if kind == "3d":
        return graph_model([helper.make_node("Identity", ["x"], ["logits"])],
                           output_shape=("batch", "residues", FEATURES))
    if kind == "scalar":
        return graph_model([helper.make_node("ReduceSum", ["x"], ["logits"], keepdims=0)],
                           output_shape=())
    raise ValueError(kind)


def wrong_inputs_network() -> bytes:
    """A network that reads ``tokens`` (B, T) int64: not what the kit feeds the distilled one."""
    _, TensorProto, helper, _ = _onnx()
    inputs = [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "residues"])]
    return graph_model([helper.make_node("Cast", ["tokens"], ["logits"], to=TensorProto.FLOAT)],
                       inputs=inputs)


def with_network(shipped: Path, where: Path, network: bytes) -> Path:
    """A copy of the shipped model folder whose network is ``network``, its record resealed
    (a crafted folder's author writes track.json too)."""
    from runs import reseal
    shutil.copytree(shipped, where)
    (where / "distilled.onnx").write_bytes(network)
    reseal(where)
    return where
