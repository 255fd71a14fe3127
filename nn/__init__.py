"""The shared torch layer: what every torch track (esm, bert, llm, bilstm, distilled, convnet)
and lgbm's embedding option use, declared in one place, between ``data/`` and the tracks.

    config.py     LoopConfig: the training loop's settings (no torch; each track's config
                  derives from it)
    device.py     where the work runs: threads, device, precision, the torchrun process group
    train.py      the training loop: AdamW, warmup, clipping, accumulation, early stopping,
                  resumable epochs, DistributedDataParallel under torchrun
    batching.py   batches by a budget of padded tokens
    head.py       the per-residue head and the masked BCE
    align.py      residue-to-token alignment: the one place that knows the start/end frame
    windows.py    windows for proteins longer than a backbone reads, and their stitching
    residue_runs.py  per-residue ONNX networks over proteins of any length: batches, and
                  windows past what a network runs at once
    pieces.py     proteins cut into windows, windows collated into batches
    backbones.py  ESM-2 (fair-esm) and BERT-style (transformers) encoders, and their loaders
    official.py   published ESM-2 sizes, weight locations, known digests, the official file
    cache.py      frozen-backbone embeddings, computed once
    seqnet.py     the bilstm's network (and the distilled track's)
    convnet.py    the shipped predictor's network: dilated convolutions, exported to ONNX
    metapredict.py  metapredict V3's network rebuilt from its wheel and exported to ONNX

Nothing here knows any particular track or the command line; torch is imported by the modules
that need it (config.py and official.py's names import none).
"""
