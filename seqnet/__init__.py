"""The small neural track (``bilstm``): a network of about 100 k weights trained from scratch.

It reads each residue as its letter (one-hot) and the kit's physico-chemical scales
(baselines/scales.py), convolves over neighbouring residues and runs a two-layer bidirectional
LSTM over the whole protein, of any length, at once. It shares the training loop, the masked
BCE and the device handling of the protein-language-model tracks (token_clf/).
"""
