"""The command line (``agora``): one module per command group. The only layer that imports the CLI."""
