"""
hello_service: the Rust async book's concurrent web server, the Twisted way.

Run it with C{twistd -n hello}; see C{hello_service.tap} for the options.
"""

__version__ = "0.1.0"
