"""Shared pytest set-up: float64 by default where a test asks for it, and a headless matplotlib."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
