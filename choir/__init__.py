"""The `choir` command line: one typer app fronting every part of the toolkit."""
