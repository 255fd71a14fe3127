"""The layers docs/layout.md describes, as the imports have them.

Every import of every module of the package (those inside functions too) is read from its
source. A module may import its own layer and those below it; a track package may import no
other track package, and the ensemble none at all (it composes tracks through the registry).
"""
from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

import pytest

PACKAGE = "idr_kit"
ROOT = Path(__file__).resolve().parents[1]
# Lowest first: (layer, module patterns). The command-line entry modules of two track packages
# (python -m idr_kit.token_clf.fit) belong to the command-line layer, not to their track.
LAYERS = [
    ("data", ["idr_kit.data", "idr_kit.data.*"]),
    ("contract", ["idr_kit.runtime", "idr_kit.postprocess", "idr_kit.crossval", "idr_kit.tracks",
                  "idr_kit.saved"]),
    ("nn", ["idr_kit.nn", "idr_kit.nn.*"]),
    ("command line", ["idr_kit.token_clf.fit", "idr_kit.llm_sft.fit", "idr_kit.settings",
                      "idr_kit.cli", "idr_kit.submit", "idr_kit.score", "idr_kit.fit",
                      "idr_kit.image", "idr_kit.predict", "idr_kit.merge",
                      "idr_kit"]),
    ("tracks", ["idr_kit.baselines*", "idr_kit.token_clf*", "idr_kit.llm_sft*",
                "idr_kit.seqnet*", "idr_kit.distill*", "idr_kit.convnet*"]),
    ("ensemble", ["idr_kit.ensemble*"]),
    ("run", ["idr_kit.pipeline", "idr_kit.runfolder", "idr_kit.plots", "idr_kit.predictor",
             "idr_kit.stream", "idr_kit.shards", "idr_kit.workers"]),
]
ORDER = ["data", "contract", "nn", "tracks", "ensemble", "run", "command line"]
SKIPPED = ("tests", "bench", "build", "runs", ".venv", ".venv-light", "data/demo")


def layer_of(module: str) -> str:
    for layer, patterns in LAYERS:  # the command line's entry modules match before their track
        if any(fnmatch(module, pattern) for pattern in patterns):
            return layer
    raise AssertionError(f"{module} is in no layer: add it to tests/test_layers.py's LAYERS")


def track_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if layer_of(module) in ("tracks", "ensemble") else None


def package_modules() -> dict[str, Path]:
    """Module name -> source file (relative to the checkout), for every module of the package."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if any(str(relative).startswith(skip) for skip in SKIPPED):
            continue
        parts = [PACKAGE, *relative.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = relative
    return found


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports, wherever the import statement stands."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:  # "from idr_kit import crossval" imports idr_kit.crossval
                name = f"{node.module}.{alias.name}"
                out.add(name if name in modules else node.module)
    return out


def violations(imports: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the layers: a lower layer importing a higher one, a track
    package importing another, the ensemble importing a track package."""
    found = []
    for module, targets in sorted(imports.items()):
        mine = ORDER.index(layer_of(module))
        for target in sorted(targets):
            theirs = ORDER.index(layer_of(target))
            if theirs > mine:
                found.append(f"{module} ({layer_of(module)}) imports {target} "
                             f"({layer_of(target)}, a higher layer)")
            elif (layer_of(target) == "tracks" and track_package(module)
                  and track_package(target) != track_package(module)):
                found.append(f"{module} imports {target}: another track's package")
    return found


def test_every_import_respects_the_layers():
    modules = package_modules()
    assert "idr_kit.tracks" in modules and "idr_kit.nn.train" in modules
    imports = {name: imports_of(ROOT / path, set(modules)) for name, path in modules.items()}
    assert not violations(imports), "\n".join(violations(imports))


def test_every_module_has_a_layer():
    for module in package_modules():
        layer_of(module)


@pytest.mark.parametrize("module, target, why", [
    ("idr_kit.seqnet.track", "idr_kit.token_clf.train", "another track's package"),
    ("idr_kit.baselines.plm", "idr_kit.token_clf.track", "another track's package"),
    ("idr_kit.ensemble.config", "idr_kit.seqnet.config", "another track's package"),
    ("idr_kit.nn.train", "idr_kit.crossval", None),  # a lower layer: allowed
    ("idr_kit.data.records", "idr_kit.tracks", "a higher layer"),
    ("idr_kit.tracks", "idr_kit.cli", "a higher layer"),
    ("idr_kit.nn.pieces", "idr_kit.token_clf.config", "a higher layer"),
])
def test_the_check_catches_what_it_is_for(module, target, why):
    found = violations({module: {target}})
    assert (why in found[0]) if why else not found, found
