"""
A fuzzing harness over the request path, bounded in time:

    python -m tests.fuzz --seconds 60

Runs the property checks of L{tests.support.oracle} (HTTP/1.1) and
L{tests.support.http2oracle} (HTTP/2) with fresh random seeds, in turn,
until the time is up, and exits non-zero with the failing input if one
breaks.
"""

from __future__ import annotations

import argparse
import random
import time

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from .support.http2oracle import checkHTTP2, fieldLists, frames
from .support.oracle import checkInvariants, conditions, mutatedStreams, splits


def run(seconds: float) -> int:
    stop = time.monotonic() + seconds
    examples = 0
    while time.monotonic() < stop:

        @seed(random.getrandbits(64))
        @settings(
            max_examples=300,
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def once(data: st.DataObject) -> None:
            if data.draw(st.booleans()):
                checkHTTP2(
                    data.draw(st.lists(fieldLists(), max_size=6)),
                    data.draw(frames()),
                    data.draw(st.binary(max_size=64)),
                )
                return
            binary = data.draw(st.booleans())
            stream = data.draw(st.binary(max_size=400) if binary else mutatedStreams())
            checkInvariants(data.draw(splits(stream)), data.draw(conditions()))

        once()
        examples += 300
    return examples


def main() -> None:
    parser = argparse.ArgumentParser(description="Fuzz the request path.")
    parser.add_argument("--seconds", type=float, default=60.0)
    arguments = parser.parse_args()
    started = time.monotonic()
    examples = run(arguments.seconds)
    print(
        f"fuzzed the request path (HTTP/1.1 and HTTP/2) with {examples} inputs in {time.monotonic() - started:.0f} s"
    )
    print(f"fuzz: {examples} passed, 0 failed")


if __name__ == "__main__":
    main()
