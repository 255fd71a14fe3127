"""The distilled track (``distilled``): one small network that learns what the kit's best blend
knows, and predicts without torch.

It is the bilstm's network (nn/seqnet.py: residue letters and scales, a convolution, a
two-layer bidirectional LSTM) trained on the labels of both label styles plus soft targets
from teachers on every residue, unassessed ones included: the out-of-fold probabilities of a
blend (recipes/cpu_blend.json) in each style. Training uses torch (the ``nn`` extra);
prediction runs the same network in numpy (nn/numpy_forward.py), in the base install. The kit
ships one trained on both shared training files (idr_kit/models/, with its model card).
"""
