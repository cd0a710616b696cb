"""Signed, self-healing updates of the madoguchi app, pushed by IT.

The device side verifies one signed manifest that pins a SHA-256 for every file
of a bundle *before* writing anything, installs into a new versioned directory,
switches the ``current`` link atomically as the last step, restarts the units
and commits only after a health check passes; otherwise it rolls back by itself.
The IT side builds and signs bundles (``updater.bundle``, ``updater.keys``);
the central server publishes them (``updater.server``).

Modules, each holding one thing:

- ``errors``    typed refusals (leaves of ``madoguchi.errors.UpdateError``)
- ``keys``      Ed25519 key files, signing and verifying
- ``manifest``  the signed manifest and version rules
- ``bundle``    building and verifying bundle files
- ``layout``    the install tree: versions, ``current``/``previous`` links
- ``install``   writing a verified bundle into a new version directory
- ``lock``      the update lock a counter transaction holds
- ``statedir``  the updater's own root-only directory; file access that follows no link
- ``status``    the device's update status and pending reports (validated when read)
- ``trust``     root keys, the signed key list and the signed channel pointer
- ``channel``   what a counter accepted last (key list, pointer serials)
- ``health``    the health check that decides commit or rollback
- ``engine``    apply, commit, rollback and recovery after power loss
- ``download``  fetching bundles with HTTP Range resume, reporting status
- ``server``    the Starlette app the central server mounts
- ``selftest``  a tiny notify/watchdog daemon used as a health probe
"""
