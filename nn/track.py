"""What the torch tracks (bilstm, esm, bert, llm) share: a saved model's record file with its
training history, the network rebuilt (``_setup``) before its weights are restored, and a
digest of the trained weights taken from memory.

    class BiLstmTrack(TorchTrack):
        meta_file = "bilstm.json"
        def _restore(self, directory, meta): load_into(self.net_, directory / WEIGHTS_FILE)
        def _weights(self): return self.net_
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from torch import nn

from idr_kit.data.reading import read_record
from idr_kit.nn.train import History, parameters_digest
from idr_kit.tracks import Track


class TorchTrack(Track):
    meta_file: ClassVar[str]  # the saved record: {"history": ..., and the track's own keys}

    def _setup(self) -> None:
        """Build what the track trains or restores into (its network, its device)."""
        raise NotImplementedError

    def _restore(self, directory: Path, meta: dict) -> None:
        """Load the saved weights of ``directory`` into what ``_setup`` built; ``meta`` is the
        track's record, read and bounded."""
        raise NotImplementedError

    def _weights(self) -> nn.Module:
        """The trained modules, as one module (what ``state_digest`` hashes)."""
        raise NotImplementedError

    def _load(self, directory: Path) -> None:
        meta = read_record(directory / self.meta_file, links=False)
        self._setup()
        self._restore(directory, meta)
        if meta.get("history"):
            self.history_ = History.from_json(meta["history"])

    def state_digest(self) -> str:
        """The trained weights' digest, from memory (saving a large model to hash it is slow)."""
        self._require_fitted()
        return parameters_digest(self._weights())
