"""The HTTP edge: thin routes that turn requests into plain calls and refusals into JSON answers."""
