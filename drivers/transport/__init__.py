"""Backends for the card-reader seam."""
