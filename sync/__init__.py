"""Store-and-forward: the device outbox uploader and the central server."""
