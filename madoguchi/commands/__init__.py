"""One module per ``madoguchi`` subcommand area (see ``madoguchi.cli.COMMAND_MODULES``)."""
