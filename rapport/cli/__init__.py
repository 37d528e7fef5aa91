"""The `rapport` command line: one entry point for the stack, the stream and the data."""
