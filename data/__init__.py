"""Records, file formats, splits and metrics: everything the tracks share."""
from idr_kit.data.errors import InputError
from idr_kit.data.records import ALPHABET, Protein, make_protein

__all__ = ["ALPHABET", "InputError", "Protein", "make_protein"]
