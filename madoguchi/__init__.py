"""madoguchi: the composition root (CLI, configuration, benchmarks) and the shared error tree."""
