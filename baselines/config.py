"""Settings of the w2v and lgbm tracks: importable with numpy alone, so that a command line
starts without loading scikit-learn, gensim or LightGBM."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from idr_kit.baselines.features import FeatureSpec
from idr_kit.data.errors import SettingError
from idr_kit.data.fields import Range
from idr_kit.nn.official import is_esm_name
from idr_kit.tracks import TrackConfig


@dataclass(frozen=True)
class W2VConfig(TrackConfig):
    vector_size: int = 100  # the baseline's; everything else is gensim's default
    RANGES: ClassVar[dict[str, Range]] = {"vector_size": Range(1, 1024)}


@dataclass(frozen=True)
class LGBMConfig(TrackConfig):
    # Features: defaults, and the evidence for them, live in baselines/features.py.
    vector_size: int = 8  # Word2Vec adds nothing over composition in CV: keep it small
    w2v_widths: tuple[int, ...] = FeatureSpec.w2v_widths  # windows averaging the Word2Vec vectors
    composition_widths: tuple[int, ...] = FeatureSpec.composition_widths  # composition windows
    scale_widths: tuple[int, ...] = FeatureSpec.scale_widths  # windows averaging the residue scales
    terminus_cap: int = FeatureSpec.terminus_cap  # distance to a terminus, capped here
    use_length: bool = FeatureSpec.use_length  # the protein's length as a feature
    use_protein_means: bool = FeatureSpec.use_protein_means  # whole-protein scale means as features
    # Boosting. Small trees with large leaves: 63-leaf trees with 200-residue leaves peaked
    # at 50-100 rounds in CV and lost 0.026 AUC by 800. Early stopping on a 10% protein fold
    # matched the best fixed round count (CV AUC 0.852 vs 0.851).
    num_rounds: int = 1000  # boosting rounds at most (early stopping ends sooner)
    early_stopping_rounds: int = 50  # rounds without a better held-out loss before stopping
    learning_rate: float = 0.05  # LightGBM's shrinkage per round
    num_leaves: int = 15  # leaves per tree
    min_data_in_leaf: int = 1000  # residues a leaf holds at least
    feature_fraction: float = 0.8  # features each tree sees
    bagging_fraction: float = 0.5  # residues each tree sees
    lambda_l2: float = 1.0  # L2 penalty on leaf values
    max_bin: int = 63  # histogram bins per feature
    balance_classes: bool = True  # scale_pos_weight = ordered / disordered residues
    valid_fraction: float = 0.1  # proteins held out for early stopping; 0 trains all rounds
    # Protein-language-model embeddings as more features (plm.py; needs torch): a backbone the
    # token tracks load ("antiberty", an ESM-2 name such as esm2_t33_650M_UR50D, a transformers
    # directory); "" adds none. Its vectors are reduced to embedding_dims principal components
    # (0 keeps them all) and averaged over centred windows of each of embedding_widths.
    embeddings: str = ""  # a language model's per-residue vectors as features (see above)
    embedding_weights: str = ""  # a local fair-esm checkpoint (.pt) for an ESM-2 name
    embedding_dims: int = 32  # principal components kept of those vectors (0: all)
    embedding_widths: tuple[int, ...] = (1, 15, 41)  # windows averaging those components
    # Widths beyond a few hundred residues average a whole protein; 1001 is far past any use.
    RANGES: ClassVar[dict[str, Range]] = {
        "vector_size": Range(1, 1024), "w2v_widths": Range(1, 1001),
        "composition_widths": Range(1, 1001), "scale_widths": Range(1, 1001),
        "terminus_cap": Range(1, 100_000), "num_rounds": Range(1, 100_000),
        "early_stopping_rounds": Range(1, 100_000), "learning_rate": Range(0, 1, True),
        "num_leaves": Range(2, 131_072), "min_data_in_leaf": Range(1, 10 ** 8),
        "feature_fraction": Range(0, 1, True), "bagging_fraction": Range(0, 1, True),
        "lambda_l2": Range(0, 1e6), "max_bin": Range(2, 65_535),
        "valid_fraction": Range(0, 0.9), "embedding_dims": Range(0, 8192),
        "embedding_widths": Range(1, 1001)}

    def __post_init__(self):
        super().__post_init__()
        if self.embedding_dims < 0:
            raise SettingError(f"embedding_dims must be >= 0, got {self.embedding_dims}")
        if not self.embedding_widths or any(w < 1 or w % 2 == 0 for w in self.embedding_widths):
            raise SettingError(f"embedding_widths must be odd widths >= 1, got {self.embedding_widths}")

    def components(self) -> dict[str, None]:
        """The token track whose packages the embedding backbone needs."""
        if not self.embeddings:
            return {}
        return {"esm" if is_esm_name(self.embeddings) else "bert": None}

    def feature_spec(self) -> FeatureSpec:
        names = {f.name for f in dataclasses.fields(FeatureSpec)}
        return FeatureSpec(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})
