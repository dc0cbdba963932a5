"""
The servers a user would pick instead of hello, each serving the same page.
"""
