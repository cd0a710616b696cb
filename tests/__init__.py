"""madoguchi's test suite (a package, so ``tests.support`` plugins import by name)."""
