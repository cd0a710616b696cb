"""The clerk's Textual UI. Talks to device/ only; never blocks the event loop."""
