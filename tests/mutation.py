"""
Mutation testing of the modules that hold the service's rules, with a score
that leaves out the mutants judged equivalent:

    .venv/bin/pip install -e '.[mutation]' && .venv/bin/python -m tests.mutation

It runs C{mutmut} afresh over every module that holds a rule (the list is
in pyproject.toml), with the property tests derandomized, then prints every
surviving mutant, marked with the reason when C{tests/mutation-equivalents.txt}
says it changes nothing a user could notice, and the score of each module
and of all: killed mutants over mutants that are not equivalent.  Tests that
start real processes are skipped under mutmut (it credits only what runs in
its own process).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
EQUIVALENTS = Path(__file__).resolve().parent / "mutation-equivalents.txt"


def equivalents() -> dict[str, str]:
    """
    The mutants judged equivalent, with the reason, from the file: a reason
    line (C{# ...}) applies to the mutant names that follow it.
    """
    found: dict[str, str] = {}
    reason = ""
    for line in EQUIVALENTS.read_text().splitlines():
        line = line.strip()
        if line.startswith("#"):
            reason = line.lstrip("# ")
        elif line:
            found[line] = reason
    return found


def moduleOf(mutant: str) -> str:
    """
    The module a mutant's name places it in (C{hello_service.http.requests.x...}).
    """
    return mutant.split(".x", 1)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--keep", action="store_true", help="reuse the results of the last run"
    )
    arguments = parser.parse_args()
    mutmut = str(Path(sys.executable).parent / "mutmut")
    environment = dict(os.environ, HELLO_HYPOTHESIS_PROFILE="mutation")
    if not arguments.keep:
        shutil.rmtree(CHECKOUT / "mutants", ignore_errors=True)
        subprocess.run(
            [mutmut, "run", "--max-children", str(arguments.children)],
            cwd=CHECKOUT, env=environment, check=True,
        )  # fmt: skip
    listing = subprocess.run(
        [mutmut, "results", "--all", "true"],
        cwd=CHECKOUT, env=environment, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    statuslines = dict(re.findall(r"^\s*(\S+): (\w[\w ]*)$", listing, re.MULTILINE))
    known = equivalents()
    # A mutant that made the tests time out was caught too; any other
    # status (survived, no tests, suspicious) was not.
    survivors = [
        name
        for name, status in statuslines.items()
        if status not in ("killed", "timeout")
    ]
    equivalent = [name for name in survivors if name in known]
    counted = len(statuslines) - len(equivalent)
    killed = len(statuslines) - len(survivors)
    for name in survivors:
        status = statuslines[name]
        print(f"{status}: {name}  [{known.get(name, 'NOT JUDGED EQUIVALENT')}]")
    print()
    for module in sorted({moduleOf(name) for name in statuslines}):
        mine = [name for name in statuslines if moduleOf(name) == module]
        lost = [name for name in mine if name in survivors]
        same = [name for name in lost if name in known]
        score = 100 * (len(mine) - len(lost)) / max(1, len(mine) - len(same))
        print(
            f"{module:32} {len(mine):5} mutants {len(mine) - len(lost):5} killed "
            f"{len(same):4} equivalent  {score:5.1f}%"
        )
    print(
        f"{len(statuslines)} mutants: {killed} killed, {len(survivors)} survived "
        f"({len(equivalent)} equivalent); score {killed}/{counted} = "
        f"{100 * killed / counted:.1f}% of non-equivalent mutants killed"
    )


if __name__ == "__main__":
    main()
