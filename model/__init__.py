"""What a track is built from, below the contract (tracks.py): where it runs (runtime.py),
out-of-fold predictions (crossval.py) and the decision fitted on them (decision.py)."""
