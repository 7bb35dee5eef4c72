import subprocess
import sys

import bordin


def test_version_command_prints_package_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bordin.cli", "version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == bordin.__version__


def test_unknown_command_is_a_usage_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bordin.cli", "no-such-command"], capture_output=True, text=True
    )
    assert out.returncode == 2
