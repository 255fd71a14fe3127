"""LightGBM on windowed residue features: the strong CPU baseline.

Features come from ``baselines.features`` (Word2Vec window means, composition, physico-
chemical scales, distance to the termini, optionally length). Training uses assessed residues
only, weighs the rarer class up, and stops early on a validation fold of whole proteins,
picked by hashing each sequence with the seed, so identical sequences never straddle it.

With ``embeddings`` set, a protein language model's per-residue vectors, reduced and window-
averaged (plm.py), are more columns (ESMDisPred's recipe).

Saved state: LightGBM's text model and the Word2Vec table (``.npz``), with embeddings the
backbone's source (``plm.json``) and the reduction (``plm_reduction.npz``); the config is in
the model's track.json.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import lightgbm as lgb
import numpy as np

from idr_kit.baselines.config import LGBMConfig
from idr_kit.baselines.embedding import train_table
from idr_kit.baselines.features import feature_names, residue_features
from idr_kit.baselines.rows import predict_in_chunks, training_rows
from idr_kit.data.arrays import read_arrays
from idr_kit.data.atomic import atomic_write, write_json
from idr_kit.data.reading import read_record
from idr_kit.data.errors import FileRefused, SettingError
from idr_kit.data.progress import progress
from idr_kit.data.records import ALPHABET, Protein, assessed_labels, both_classes, require_training
from idr_kit.data.splits import split_validation
from idr_kit.tracks import Track

MODEL_FILE = "lgbm_model.txt"
TABLE_FILE = "residue_vectors.npz"
PLM_FILE = "plm.json"
REDUCTION_FILE = "plm_reduction.npz"


class LGBMTrack(Track):
    name = "lgbm"
    Config = LGBMConfig

    def _fit(self, proteins: list[Protein], oof) -> None:
        self.table_ = train_table([p.seq for p in proteins],
                                  vector_size=self.config.vector_size, seed=self.config.seed)
        self.plm_ = self._plm().fit(proteins) if self.config.embeddings else None
        train, valid = split_validation(proteins, self.config.valid_fraction, self.config.seed)
        self.booster_ = self._boost(train, valid)

    def _plm(self, source: dict | None = None):
        from idr_kit.baselines.plm import PlmFeatures  # torch: only with embeddings
        return PlmFeatures.build(self.config, self.runtime, source)

    def features(self, protein: Protein) -> np.ndarray:
        """(L, F) float32 features of one protein."""
        own = residue_features(protein.seq, self.table_, self.config.feature_spec(), protein.id)
        if self.plm_ is None:
            return own
        return np.concatenate([own, self.plm_(protein)], axis=1, dtype=np.float32)

    def _names(self) -> list[str]:
        names = feature_names(self.config.feature_spec(), self.config.vector_size)
        if self.plm_ is not None:
            dims = self.plm_.width() // len(self.plm_.widths)
            names += [f"plm{w}_{k}" for w in self.plm_.widths for k in range(dims)]
        return names

    def _dataset(self, proteins: Sequence[Protein], reference=None) -> lgb.Dataset:
        names = self._names()
        return lgb.Dataset(training_rows(proteins, self.features), assessed_labels(proteins),
                           feature_name=names, reference=reference, free_raw_data=True)

    def _boost(self, train: list[Protein], valid: list[Protein]) -> lgb.Booster:
        """LightGBM's boosting; a refusal of LightGBM's is the settings' problem (the configs'
        RANGES keep the known ones from reaching it)."""
        try:
            return self._boost_checked(train, valid)
        except lgb.basic.LightGBMError as err:
            raise SettingError(f"LightGBM refused these settings: {str(err)[:300]}") from None

    def _boost_checked(self, train: list[Protein], valid: list[Protein]) -> lgb.Booster:
        require_training(train)  # the proteins left once the early-stopping fold is out
        params = self._params(assessed_labels(train))
        dtrain = self._dataset(train)
        stops_early = _can_validate(valid)
        # Early stopping ends far sooner than num_rounds: then the bar counts without a total.
        with progress(total=None if stops_early else self.config.num_rounds, desc="boosting",
                      unit="round") as bar:
            callbacks = [lambda _: bar.update(1)]
            if not stops_early:
                return lgb.train(params, dtrain, num_boost_round=self.config.num_rounds,
                                 callbacks=callbacks)
            dvalid = self._dataset(valid, reference=dtrain)
            callbacks.append(lgb.early_stopping(self.config.early_stopping_rounds, verbose=False))
            return lgb.train(params, dtrain, num_boost_round=self.config.num_rounds,
                             valid_sets=[dvalid], callbacks=callbacks)

    def _params(self, labels: np.ndarray) -> dict:
        c = self.config
        pos_weight = (labels == 0).sum() / (labels == 1).sum() if c.balance_classes else 1.0
        return {
            "objective": "binary", "metric": "auc", "learning_rate": c.learning_rate,
            "num_leaves": c.num_leaves, "min_data_in_leaf": c.min_data_in_leaf,
            "feature_fraction": c.feature_fraction, "bagging_fraction": c.bagging_fraction,
            "bagging_freq": 1 if c.bagging_fraction < 1 else 0, "lambda_l2": c.lambda_l2,
            "max_bin": c.max_bin, "scale_pos_weight": float(pos_weight), "seed": c.seed,
            # deterministic needs row-wise histograms to give the same model run after run.
            "deterministic": True, "force_row_wise": True, "verbosity": -1,
            # the CPUs this process may use: LightGBM's own default counts the machine's
            "num_threads": self.runtime.cpu_threads,
        }

    def _predict(self, proteins: list[Protein]) -> list[np.ndarray]:
        prepare = self.plm_.prepare if self.plm_ is not None else None
        return predict_in_chunks(proteins, self.features, self._predict_rows, prepare)

    def _predict_rows(self, rows: np.ndarray) -> np.ndarray:
        return self.booster_.predict(rows, num_threads=self.runtime.cpu_threads)

    def _save(self, directory: Path) -> None:
        iteration = self.booster_.best_iteration or None  # 0 means trained without stopping
        with atomic_write(directory / MODEL_FILE) as handle:
            handle.write(self.booster_.model_to_string(num_iteration=iteration))
        with atomic_write(directory / TABLE_FILE, "wb") as handle:
            np.savez(handle, table=self.table_)
        if self.plm_ is not None:
            write_json(directory / PLM_FILE, {"source": self.plm_.source})
            with atomic_write(directory / REDUCTION_FILE, "wb") as handle:
                np.savez(handle, **self.plm_.state())

    def _load(self, directory: Path) -> None:
        self.table_ = read_arrays(directory / TABLE_FILE,
                                  {"table": (len(ALPHABET), self.config.vector_size)})["table"]
        self.plm_ = None
        if self.config.embeddings:
            source = read_record(directory / PLM_FILE, links=False).get("source")
            if not isinstance(source, dict):
                raise FileRefused(f"{directory / PLM_FILE}: no backbone 'source' record")
            self.plm_ = self._plm(source)
            self.plm_.load_state(read_arrays(directory / REDUCTION_FILE,
                                             self.plm_.state_shapes()))
        self.booster_ = read_booster(directory / MODEL_FILE, len(self._names()))


def read_booster(path: Path, features: int) -> lgb.Booster:
    """LightGBM's text model, checked whole before LightGBM parses it (a truncated file can
    abort the process from inside LightGBM), and checked to read ``features`` columns."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FileRefused(f"{path}: cannot read the LightGBM model ({err})") from None
    sizes = next((line.split("=", 1)[1].split() for line in text.splitlines()
                  if line.startswith("tree_sizes=")), None)
    trees = sum(1 for line in text.splitlines() if line.startswith("Tree="))
    if (not text.startswith("tree\n") or "\nend of trees\n" not in text or sizes is None
            or len(sizes) != trees):
        raise FileRefused(f"{path}: not a whole LightGBM model (damaged or cut short)")
    try:
        booster = lgb.Booster(model_str=text)
    except lgb.basic.LightGBMError as err:
        raise FileRefused(f"{path}: LightGBM cannot read it ({str(err)[:200]})") from None
    if booster.num_feature() != features:
        raise FileRefused(f"{path}: a model of {booster.num_feature()} features, but these "
                          f"settings make {features}")
    return booster


def _can_validate(valid: list[Protein]) -> bool:
    """Early stopping on AUC needs held-out assessed residues of both classes."""
    return bool(valid) and both_classes(assessed_labels(valid))
