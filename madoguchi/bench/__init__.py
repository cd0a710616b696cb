"""Benchmarks behind ``madoguchi bench AREA``; one module per area."""
