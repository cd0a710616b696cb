"""The installed version of madoguchi, as ``madoguchi --version`` and the diagnostics show it.

Read from the installed distribution's metadata, so it is the version the running code
was installed as: ``pyproject.toml``'s in a development checkout, the one
``madoguchi update build`` stamped into the bundle's wheel on a counter.
"""

from __future__ import annotations

import platform
import sys
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


def version_line() -> str:
    """``madoguchi --version``: the version and the platform it runs on, as an update bundle's
    manifest names it (``madoguchi 0.1.0 (aarch64, cp311)``), so IT can tell which build of a
    fleet's two machines a counter or a package holds."""
    abi = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    return f"madoguchi {installed_version()} ({platform.machine()}, {abi})"
