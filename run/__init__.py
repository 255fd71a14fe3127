"""A run: one pipeline for any track (pipeline.py), the one prediction engine (stream.py) with
its worker processes (workers.py) and shards (shards.py), the output folder (folder.py),
model folders saved and read (saved.py), settings from --set and recipes (settings.py) and
plots (plots.py). Internal: users reach it through idr_kit (the API) and the commands."""
