"""The two CPU baselines, each a track (see ../tracks.py for the contract).

    w2v    the challenge's official baseline: Word2Vec residue vectors averaged over
           residues i-2..i+1, Gaussian naive Bayes (w2v.py)
    lgbm   LightGBM on windowed composition, Word2Vec and physico-chemical features (lgbm.py)

Shared pieces: windows.py (clipped running-sum window means), embedding.py (residue table and
Word2Vec training), scales.py (residue scales with their sources), features.py (the LightGBM
feature matrix), rows.py (stacking proteins into residue rows and splitting predictions back).
"""
