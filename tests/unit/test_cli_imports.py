"""The CLI's light object graph starts fast: scikit-learn and SciPy, which only monitoring runs
use and which take most of a second to import, load when a run first needs them, not when a command
such as ``omlsvc users list`` builds its services."""

from __future__ import annotations

import subprocess
import sys

#: Libraries a command that only reads or writes users, models or jobs never needs.
LOADED_ON_FIRST_USE = ("sklearn", "scipy", "pandas")

PROBE = f"""
import sys
import omlsvc.cli, omlsvc.wiring
import omlsvc.jobs.monitoring.runs, omlsvc.jobs.monitoring.metrics, omlsvc.jobs.monitoring.drift
import omlsvc.jobs.monitoring.statistics
print(sorted(m for m in sys.modules if m.split(".")[0] in {LOADED_ON_FIRST_USE!r}))
"""


def test_the_cli_and_the_monitoring_modules_import_without_scikit_learn_or_scipy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout


def test_a_monitoring_metric_still_loads_scikit_learn_when_it_runs() -> None:
    probe = (
        "import sys, numpy as np\n"
        "from omlsvc.jobs.monitoring.metrics import regression_metrics\n"
        "from omlsvc.jobs.monitoring.statistics import jensen_shannon\n"
        "print(regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 2.0]))['R2'],"
        " jensen_shannon(np.array([1.0, 1.0]), np.array([1.0, 1.0])), 'sklearn' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["1.0", "0.0", "True"]
