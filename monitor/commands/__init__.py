"""CLI subcommands, one module each; ``monitor.cli`` discovers them."""
