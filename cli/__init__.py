"""The ``annotate`` command line: a front end over the domain rooms."""
