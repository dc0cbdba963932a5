"""
Tests for hello_service, runnable by C{python -m twisted.trial tests} and by
C{pytest}.
"""
