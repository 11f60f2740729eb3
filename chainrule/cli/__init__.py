"""The `chainrule` command line: `main.py` dispatches; each command is one file with `add_parser` and `run`."""
