"""
hello_service: the Rust async book's concurrent web server, the Twisted way.

Run it with C{twistd -n hello}; see L{hello_service.tap} for the options.
This is the one place the version is written: the distribution takes it
from here.
"""

__version__ = "0.3.0"
