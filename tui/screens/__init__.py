"""The clerk's screens, one module each."""
