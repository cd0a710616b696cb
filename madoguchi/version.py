"""The installed version of madoguchi, as ``madoguchi --version`` and the diagnostics show it.

Read from the installed distribution's metadata, so it is the version the running code
was installed as: ``pyproject.toml``'s in a development checkout, the one
``madoguchi update build`` stamped into the bundle's wheel on a counter.
"""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "madoguchi"
#: What is shown when the code runs from a tree that was never installed.
UNKNOWN = "0+unknown"


def installed_version() -> str:
    """The version of the installed ``madoguchi`` distribution, or :data:`UNKNOWN`."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN
