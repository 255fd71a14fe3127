"""The two CPU baselines, each a track (see ../tracks.py for the contract).

    w2v    the challenge's official baseline: Word2Vec residue vectors averaged over
           residues i-2..i+1, Gaussian naive Bayes (w2v.py)
    lgbm   LightGBM on windowed composition, Word2Vec and physico-chemical features (lgbm.py)

Their pieces: embedding.py (residue table and Word2Vec training), features.py (the LightGBM
feature matrix), rows.py (stacking proteins into residue rows and splitting predictions back),
plm.py (a protein language model's per-residue vectors as features); shared with other tracks
from data/: window_means.py (clipped running-sum window means) and scales.py (residue scales
with their sources).
"""
