"""The command lines, one module per console command: each parses its arguments and calls the
kit (idr-predict: predict.py, idr-score: score.py, idr-merge: merge.py, idr-fit: fit.py,
idr-image: image.py; idr-submit is the top-level submit.py); common.py holds what they share.
Internal: the commands' options are the interface, not these modules."""
