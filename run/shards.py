"""Shard folders (``submit.py --model M --test T --shard I/N``) merged into the output set that
one run over the whole test file writes, byte for byte.

    record = merge_shards([Path("s1"), Path("s2"), ...], out, test=None, overwrite=False)

Each shard predicted the chunks k of the test file with k % N == I - 1 and kept them in its
``parts/`` folder (stream.py). The merge checks that the folders are the N shards of one plan
(the same model, decision, test file and chunk size; every index once; every shard finished),
then writes the outputs in one pass over the test file, chunk k read from shard k % N + 1, by
the writer a single run uses.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from idr_kit.data.reading import read_record
from idr_kit.data.digests import SHORT, file_sha256
from idr_kit.data.errors import FileRefused, InputError, UserError
from idr_kit.data.provenance import code_version, library_versions
from idr_kit.run.pipeline import finish_set
from idr_kit.model.decision import Decision
from idr_kit.run.folder import RunFolder
from idr_kit.run.stream import (MAX_CHUNK_RESIDUES, MAX_SHARDS, PARTS, PLAN, Chunking, Parts,
                                check_unchanged, scan, write_set)
from idr_kit.tracks import TRACKS

MAX_CHUNKS = 1 << 40  # chunks of one test file: far more than any file has


def merge_shards(folders: Sequence[Path], out: Path, *, test: Path | None = None,
                 overwrite: bool = False, command: Sequence[str] = ()) -> dict:
    shards = sorted((_shard(Path(f)) for f in folders), key=lambda s: s["index"])
    first = shards[0]
    _check_one_plan(shards)
    test = Path(test) if test is not None else Path(first["record"]["test"][0]["path"])
    digest = first["record"]["test"][0]["sha256_16"]
    if not test.is_file() or file_sha256(test)[:SHORT] != digest:
        raise InputError(f"is not the test file the shards predicted (sha256 {digest}...); "
                         "pass that file with --test", source=str(test))
    chunking = Chunking(residues=first["chunk_residues"])
    counts = scan(test, chunking)
    if counts.chunks != first["test_chunks"]:
        raise InputError(f"cuts into {counts.chunks} chunks, the shards' into "
                         f"{first['test_chunks']}", source=str(test))
    record = {key: first["record"][key] for key in ("model", "model_code_version", "track",
                                                    "track_config", "decision", "threshold",
                                                    "threshold_source", "test")
              if key in first["record"]}
    record.update(command=list(command), code_version=code_version(),
                  versions=library_versions(),
                  merged={"shards": [str(s["folder"]) for s in shards], "of": len(shards)})
    decision = first["decision"]
    parts = [Parts(s["folder"] / PARTS, {}) for s in shards]
    who = {"merge": first["plan"], "shards": [str(s["folder"].resolve()) for s in shards]}
    inputs = [("the test file", test), *(("a shard folder", s["folder"]) for s in shards)]
    with RunFolder(out, who, inputs=inputs, overwrite=overwrite):
        written = write_set(out, test, chunking, lambda k: parts[k % len(parts)], decision,
                            first["members"],
                            before_commit=lambda: check_unchanged(test, digest))
        finish_set(out, written, record, record.get("track", ""), decision, plot=False)
    return record


def _shard(folder: Path) -> dict:
    """A finished shard folder's record, plan and decision, or FileRefused saying what it
    lacks: every field a merge reads is checked and bounded, and the decision is the one its
    parts were predicted with."""
    config = folder / "config.json"
    if not config.exists() and not config.is_symlink():
        raise FileRefused(f"{folder}: no config.json: not a finished shard (rerun its command: "
                          "it resumes)")
    record = read_record(config, links=False)
    shard = record.get("shard")
    if not isinstance(shard, dict):
        raise FileRefused(f"{folder}: not a shard's folder (its run had no --shard)")
    _check_record(folder, record, shard)
    plan = read_record(folder / PARTS / PLAN, links=False)
    if not isinstance(plan.get("chunking"), dict) or plan.get("decision") != record["decision"]:
        raise FileRefused(f"{config}: its decision is not the one its parts were predicted "
                          f"with ({PARTS}/{PLAN}); rerun that shard")
    try:
        decision = Decision.from_dict(plan["decision"])
    except UserError as err:
        raise FileRefused(f"{folder / PARTS / PLAN}: decision: {err}") from None
    plan = {**plan, "chunking": {**plan["chunking"], "shard": None}}
    return {**shard, "folder": folder, "record": record, "plan": plan, "decision": decision}


def _check_record(folder: Path, record: dict, shard: dict) -> None:
    """The fields a merge reads, of the types and sizes a shard writes: a damaged or crafted
    record is one line naming its folder."""
    def whole(value, top: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= top
    test = record.get("test")
    fine = (whole(shard.get("index"), MAX_SHARDS) and whole(shard.get("of"), MAX_SHARDS)
            and whole(shard.get("test_chunks"), MAX_CHUNKS)
            and whole(shard.get("chunk_residues"), MAX_CHUNK_RESIDUES)
            and isinstance(shard.get("members"), list) and len(shard["members"]) <= len(TRACKS)
            and all(isinstance(m, str) and m in TRACKS for m in shard["members"])
            and isinstance(test, list) and len(test) == 1 and isinstance(test[0], dict)
            and isinstance(test[0].get("path"), str)
            and isinstance(test[0].get("sha256_16"), str)
            and isinstance(record.get("decision"), dict))
    if not fine:
        raise FileRefused(f"{folder / 'config.json'}: not the record a shard writes (damaged, "
                          "or from another version of the kit); rerun that shard")


def _check_one_plan(shards: list[dict]) -> None:
    count = shards[0]["of"]
    if count != len(shards) or [s["index"] for s in shards] != list(range(1, count + 1)) or any(
            s["of"] != count for s in shards):
        have = ", ".join(f"{s['index']}/{s['of']}" for s in shards)
        raise FileRefused(f"the folders are shards {have}: a merge needs each of 1/{count} to "
                          f"{count}/{count} once")
    for s in shards[1:]:
        if s["plan"] != shards[0]["plan"]:
            raise FileRefused(f"{s['folder']} was predicted with another model, decision, test "
                              f"file or chunk size than {shards[0]['folder']}")
