"""Widgets of the clerk's UI."""
