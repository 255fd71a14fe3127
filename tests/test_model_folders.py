"""A model folder is untrusted input: whatever its files hold, loading and predicting with it
is the model's answer or one line naming the file and the problem (exit status 2), never a
traceback, never a read of anything but the folder's own recorded files, never gigabytes of
memory. Checked through every door: idr-predict, submit.py --model and idr_kit.load."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import idr_kit
from idr_kit.data.errors import FileRefused, SettingError, UserError
from idr_kit.api import SHIPPED

from networks import (SLOTS, bad_output_network, external_data_network, external_tensor,
                      huge_constant_network, with_network, wrong_inputs_network)
from runs import ROOT, one_line_error, reseal, run_tool

SEQ = "MSEEKKPAPSPAPSEEGKKRKAEEGDKMSTNPKPQRKTKRNTNRRPQDVKFPGG"


def predict_cli(model: Path, *more, cwd: Path = ROOT, limit_gb: float | None = None):
    """idr-predict on one sequence with ``model``, in ``cwd``, its address space held to
    ``limit_gb`` when given (a file that makes it ask for more fails it)."""
    def limit():
        import resource
        size = int(limit_gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    return subprocess.run([sys.executable, str(ROOT / "commands" / "predict.py"), "-s", SEQ, "--model",
                           str(model), *map(str, more)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, preexec_fn=limit if limit_gb else None)


@pytest.fixture
def shipped_copy(tmp_path) -> Path:
    where = tmp_path / "model"
    shutil.copytree(SHIPPED, where)
    return where


@pytest.fixture(scope="module")
def w2v_model(tmp_path_factory, shared_data) -> Path:
    from idr_kit.data.competition import read_pickle
    from idr_kit.model.saved import save_model
    from idr_kit.tracks import make_track
    track = make_track("w2v", vector_size=20).fit(read_pickle(shared_data / "train.pkl")[:60])
    return save_model(track, tmp_path_factory.mktemp("w2v") / "model")


# ---- networks read nothing but their own bytes ------------------------------------------------

@pytest.mark.parametrize("name", SLOTS)
def test_a_network_with_external_data_is_refused_and_reads_no_other_file(tmp_path, name):
    pytest.importorskip("onnx")
    work = tmp_path / "work"
    work.mkdir()
    secret = np.array([7.0, 7.0, 7.0, 7.0], np.float32)
    (work / "secret.bin").write_bytes(secret.tobytes())  # a user's file, where ORT would look
    with_network(SHIPPED, tmp_path / "evil", external_data_network("secret.bin", name), name)
    one_line_error(predict_cli(tmp_path / "evil", "-o", work / "out.npz", cwd=work),
                   name, "external")
    assert not (work / "out.npz").exists()


@pytest.mark.parametrize("where", ["initializer", "constant", "subgraph", "sparse", "function"])
def test_external_data_is_found_wherever_the_graph_holds_a_tensor(where):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from idr_kit.data.networks import check_network_bytes

    def external(name):
        return external_tensor(name, [1], "../../etc/passwd")

    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    nodes, inits, sparse, functions = [], [], [], []
    if where == "initializer":
        inits = [external("y0")]
        nodes = [helper.make_node("Identity", ["y0"], ["y"])]
    elif where == "constant":
        nodes = [helper.make_node("Constant", [], ["y"], value=external("c"))]
    elif where == "subgraph":
        branch = helper.make_graph([helper.make_node("Constant", [], ["b"], value=external("c"))],
                                   "branch", [], [helper.make_tensor_value_info(
                                       "b", TensorProto.FLOAT, [1])])
        cond = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
        inits = [cond]
        nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)]
    elif where == "sparse":
        values = external("v")
        indices = helper.make_tensor("i", TensorProto.INT64, [1], [0])
        sparse = [helper.make_sparse_tensor(values, indices, [1])]
        sparse[0].values.name = "s"
        nodes = [helper.make_node("Identity", ["s"], ["y"])]
    else:
        body = [helper.make_node("Constant", [], ["z"], value=external("c"))]
        functions = [helper.make_function("local", "f", [], ["z"], body,
                                          [helper.make_opsetid("", 17)])]
        nodes = [helper.make_node("f", [], ["y"], domain="local")]
    graph = helper.make_graph(nodes, "g", [], [out], inits, sparse_initializer=sparse)
    model = helper.make_model(graph, functions=functions,
                              opset_imports=[helper.make_opsetid("", 17),
                                             helper.make_opsetid("local", 1)])
    with pytest.raises(FileRefused, match="external"):  # onnx wrote it: the scan reads onnx's
        check_network_bytes(model.SerializeToString(), "net.onnx")


def test_the_scan_follows_onnx_field_numbers():
    onnx = pytest.importorskip("onnx")
    from idr_kit.data.networks import (TENSOR_DATA_LOCATION, TENSOR_EXTERNAL_DATA,
                                       TENSOR_PATHS)
    protos = {"model": onnx.ModelProto, "training": onnx.TrainingInfoProto,
              "function": onnx.FunctionProto, "graph": onnx.GraphProto, "node": onnx.NodeProto,
              "attribute": onnx.AttributeProto, "sparse": onnx.SparseTensorProto,
              "tensor": onnx.TensorProto}
    for message, fields in TENSOR_PATHS.items():
        by_number = {f.number: f for f in protos[message].DESCRIPTOR.fields}
        for number, inner in fields.items():
            assert by_number[number].message_type.name == protos[inner].DESCRIPTOR.name
        holds = {f.number for f in protos[message].DESCRIPTOR.fields if f.message_type
                 and f.message_type.name in {p.DESCRIPTOR.name for p in protos.values()}}
        assert holds <= set(fields), (message, holds)  # every path to a tensor is followed
    fields = onnx.TensorProto.DESCRIPTOR.fields_by_name
    assert (fields["external_data"].number, fields["data_location"].number) == (
        TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION)


@pytest.mark.parametrize("name", SLOTS)
def test_the_shipped_networks_pass_the_scan(name):
    from idr_kit.data.networks import check_network_bytes
    check_network_bytes((SHIPPED / name).read_bytes(), "shipped")


@pytest.mark.parametrize("name", SLOTS)
def test_a_network_of_other_inputs_is_refused_before_any_protein_is_read(tmp_path, name):
    pytest.importorskip("onnx")
    with_network(SHIPPED, tmp_path / "m", wrong_inputs_network(name), name)
    with pytest.raises(FileRefused, match=f"{name}.*input"):
        idr_kit.load(tmp_path / "m")
    one_line_error(predict_cli(tmp_path / "m"), name)


# ---- memory bounded against small files -------------------------------------------------------

@pytest.mark.parametrize("name", SLOTS)
def test_a_small_network_asking_for_gigabytes_is_refused(tmp_path, name):
    pytest.importorskip("onnx")
    with_network(SHIPPED, tmp_path / "m", huge_constant_network(40_000, name), name)
    assert (tmp_path / "m" / name).stat().st_size < 1000
    one_line_error(predict_cli(tmp_path / "m", limit_gb=3), name, "memory")


def test_a_file_linked_to_dev_zero_is_refused(shipped_copy, w2v_model, tmp_path):
    (shipped_copy / "convnet.json").unlink()
    (shipped_copy / "convnet.json").symlink_to("/dev/zero")
    one_line_error(predict_cli(shipped_copy, limit_gb=2), "convnet.json", "link")
    meta = json.loads((shipped_copy / "track.json").read_text())
    del meta["files"]  # without a record of its files, no folder is read at all
    (shipped_copy / "track.json").write_text(json.dumps(meta))
    one_line_error(predict_cli(shipped_copy, limit_gb=2), "track.json", "files")
    w2v = tmp_path / "w2v"
    shutil.copytree(w2v_model, w2v)
    (w2v / "gaussian_nb.npz").unlink()
    (w2v / "gaussian_nb.npz").symlink_to("/dev/zero")
    one_line_error(predict_cli(w2v, limit_gb=2), "gaussian_nb.npz")


@pytest.mark.parametrize("name", ["convnet.json", "metapredict_LICENSE.txt", "track.json"])
def test_a_fifo_in_a_model_folder_is_refused_without_waiting(shipped_copy, name):
    (shipped_copy / name).unlink()
    os.mkfifo(shipped_copy / name)
    one_line_error(predict_cli(shipped_copy), name, "regular")


def test_a_link_to_a_folder_or_a_track_json_link_is_refused(shipped_copy, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (shipped_copy / "sub").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileRefused, match="link"):
        idr_kit.load(shipped_copy)
    (shipped_copy / "sub").unlink()
    shutil.move(shipped_copy / "track.json", tmp_path / "track.json")
    (shipped_copy / "track.json").symlink_to(tmp_path / "track.json")
    with pytest.raises(FileRefused, match="track.json"):
        idr_kit.load(shipped_copy)


def test_a_file_the_record_does_not_list_is_refused(shipped_copy):
    (shipped_copy / "extra.npz").write_bytes(b"planted")
    with pytest.raises(FileRefused, match="extra.npz"):
        idr_kit.load(shipped_copy)


def test_an_oversized_record_is_refused_before_it_is_read(shipped_copy):
    meta = json.loads((shipped_copy / "track.json").read_text())
    meta["padding"] = "x" * (70 << 20)
    (shipped_copy / "track.json").write_text(json.dumps(meta))
    with pytest.raises(FileRefused, match="track.json"):
        idr_kit.load(shipped_copy)


def test_a_record_nested_too_deep_is_one_line(shipped_copy):
    (shipped_copy / "track.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserError, match="track.json"):
        idr_kit.load(shipped_copy)


# ---- a swapped network's outputs are checked like any track's --------------------------------

@pytest.mark.parametrize("name", SLOTS)
@pytest.mark.parametrize("kind", ["nan", "short", "fixed", "3d", "scalar"])
def test_a_network_breaking_the_contract_is_refused_naming_the_model(tmp_path, kind, name):
    pytest.importorskip("onnx")
    with_network(SHIPPED, tmp_path / "m", bad_output_network(kind, name), name)
    with pytest.raises(FileRefused, match=str(tmp_path / "m")):
        idr_kit.load(tmp_path / "m").predict([SEQ, SEQ[:10]])


def test_a_network_breaking_the_contract_is_one_line_from_each_command(tmp_path, shared_data):
    pytest.importorskip("onnx")
    with_network(SHIPPED, tmp_path / "m", bad_output_network("short"))
    one_line_error(predict_cli(tmp_path / "m"), str(tmp_path / "m"))
    done = run_tool("submit.py", "--model", tmp_path / "m", "--test",
                    shared_data / "valid.fasta", "--out", tmp_path / "out", "--workers", "1")
    one_line_error(done, str(tmp_path / "m"))


@pytest.mark.parametrize("key, value, words", [
    ("default_style", ["pdb"], ["track.json", "default_style"]),
    ("default_style", "cif", ["track.json", "default_style"]),
    ("decisions", {"pdb": 5}, ["track.json", "decisions", "pdb"]),
    ("decisions", {"pdb": {"threshold": "high"}}, ["track.json", "decisions", "pdb"]),
    ("decisions", [1, 2], ["track.json", "decisions"]),
])
def test_a_bad_decision_record_names_the_file_and_the_key(shipped_copy, key, value, words):
    meta = json.loads((shipped_copy / "track.json").read_text())
    meta[key] = value
    (shipped_copy / "track.json").write_text(json.dumps(meta))
    with pytest.raises((FileRefused, SettingError)) as caught:
        idr_kit.load(shipped_copy)
    for word in words:
        assert word in str(caught.value), caught.value
    one_line_error(predict_cli(shipped_copy), *words)


def test_a_resealed_model_is_still_checked_past_its_digests(shipped_copy):
    (shipped_copy / "convnet.json").write_text('{"style": "cif"}')
    reseal(shipped_copy)
    with pytest.raises(FileRefused, match="convnet.json"):
        idr_kit.load(shipped_copy)
