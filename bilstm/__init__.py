"""The small neural track (``bilstm``): a network of about 100 k weights trained from scratch.

It reads each residue as its letter (one-hot) and the kit's physico-chemical scales
(data/scales.py), convolves over neighbouring residues and runs a two-layer bidirectional
LSTM over the whole protein, of any length, at once. It trains with the kit's shared torch layer
(nn/: the training loop, the masked BCE, batching, the device) and reads residues through
data/ (the alphabet, the scales, the label styles); it imports no other track.
"""
