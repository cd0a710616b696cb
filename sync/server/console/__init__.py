"""The office console (issue 16): web pages for office staff, administrators and IT,
served by the central server on a listener of its own (docs/console.md)."""
