"""The ``stockade`` command: thin over the library, owns parsing, progress and exit codes."""
