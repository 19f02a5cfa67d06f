"""bodycam station: many docked cameras drained at once into a folder and
an S3-compatible evidence store (docs/station.md)."""
from bodycam.station.core import Station

__all__ = ["Station"]
