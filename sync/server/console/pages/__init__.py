"""The console's pages, one module each; ``sync.server.console.web`` lists them
(docs/console.md, "Adding a page")."""
