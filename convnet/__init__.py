"""The convnet track: dilated convolutions over residue features, optionally reading metapredict
V3's scores too (a learned stack of it), trained with torch and run by ONNX Runtime: the
network of the predictor the kit ships (models/). Shares its residue features with the bilstm
and distilled tracks (data/residue_features.py) and its network with none (nn/convnet.py)."""
