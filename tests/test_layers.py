"""The layers, as the folders show them and the imports have them (docs/layout.md).

A module's layer is where it lies: its top-level folder (or, for the few modules at the top,
its own name). Lowest first: ``data/``; the contract (``model/`` and ``tracks.py``); ``nn/``;
the track packages (the folders the registry names); ``run/``; the API (``api.py`` and the
package's ``__init__``); the command lines (``commands/`` and ``submit.py``). Every import of
every module (those inside functions too) is read from its source. A module may import its own
layer and those below it; a track package may import no other track package, and the
ensemble none at all (it composes tracks through the registry). There are no exceptions.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "idr_kit"
ROOT = Path(__file__).resolve().parents[1]
SKIPPED = ("tests", "bench", "build", "runs", ".venv", ".venv-light", "data/demo")
TOP_MODULES = 6  # at most this many modules lie loose at the top (__init__.py among them)


def track_folders() -> set[str]:
    """The folders the registry's tracks live in."""
    from idr_kit.tracks import TRACKS
    return {entry.track.split(":")[0].split(".")[1] for entry in TRACKS.values()}


def layers() -> list[tuple[str, set[str]]]:
    """(layer, the top-level names in it), lowest first."""
    return [("data", {"data"}), ("contract", {"model", "tracks"}), ("nn", {"nn"}),
            ("tracks", track_folders()), ("run", {"run"}), ("api", {"", "api"}),
            ("commands", {"commands", "submit"})]


def layer_of(module: str) -> str:
    top = module.split(".")[1] if "." in module else ""
    for layer, names in layers():
        if top in names:
            return layer
    raise AssertionError(f"{module} lies in no layer: its folder {top!r} is none of "
                         f"tests/test_layers.py's layers()")


ORDER = [layer for layer, _ in layers()]


def track_package(module: str) -> str | None:
    return module.split(".")[1] if layer_of(module) == "tracks" else None


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
            for alias in node.names:  # "from idr_kit.model import crossval" imports idr_kit.model.crossval
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
            elif track_package(target) and track_package(module) not in (None,
                                                                          track_package(target)):
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


def test_few_modules_lie_at_the_top():
    top = sorted(path.name for path in ROOT.glob("*.py"))
    assert len(top) <= TOP_MODULES, top


@pytest.mark.parametrize("module, target, why", [
    ("idr_kit.bilstm.track", "idr_kit.token_clf.train", "another track's package"),
    ("idr_kit.baselines.plm", "idr_kit.token_clf.track", "another track's package"),
    ("idr_kit.ensemble.config", "idr_kit.bilstm.config", "another track's package"),
    ("idr_kit.nn.train", "idr_kit.model.crossval", None),  # a lower layer: allowed
    ("idr_kit.data.records", "idr_kit.tracks", "a higher layer"),
    ("idr_kit.tracks", "idr_kit.commands.common", "a higher layer"),
    ("idr_kit.token_clf.fit", "idr_kit.commands.fit", "a higher layer"),
    ("idr_kit.run.shards", "idr_kit.api", "a higher layer"),
    ("idr_kit.model.saved", "idr_kit.run.settings", "a higher layer"),
    ("idr_kit.nn.pieces", "idr_kit.token_clf.config", "a higher layer"),
])
def test_the_check_catches_what_it_is_for(module, target, why):
    found = violations({module: {target}})
    assert (why in found[0]) if why else not found, found
