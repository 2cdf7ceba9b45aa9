"""One module per CLI command. Each exposes `register(subparsers)` adding its parser, whose
`func` default is `run(args) -> int` (the exit code). cli.py lists them in COMMANDS."""
