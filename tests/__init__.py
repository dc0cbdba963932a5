"""
The tests of hello_service, run by trial and by pytest alike.

C{HELLO_HYPOTHESIS_PROFILE=mutation} makes the property tests repeatable
(the same examples every run), as mutation testing needs: a mutant must be
killed or survive by the code, not by the luck of the draw.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "mutation",
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.differing_executors, HealthCheck.too_slow],
)
if os.environ.get("HELLO_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HELLO_HYPOTHESIS_PROFILE"])
