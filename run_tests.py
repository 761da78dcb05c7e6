#!/usr/bin/env python3
"""Run the test suite under the supervised runner: ``python run_tests.py [PATH ...] [options] [-- pytest args]``.

See TESTING.md (or ``python run_tests.py --help``). Exit codes: 0 all passed, 1 any failure or culprit, 2 usage.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from testrunner import main
from testrunner._guard import guarded

if __name__ == "__main__":
    sys.exit(guarded(main))  # the supervisor runs in a child: see testrunner/_guard.py
