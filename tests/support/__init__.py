"""Test support shared by several areas (pytest plugins, helpers)."""
