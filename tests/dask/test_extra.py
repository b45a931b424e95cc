"""Without the [dask] extra, dn.dask is a ConfigError naming the extra."""

from __future__ import annotations

import subprocess
import sys

_NO_DASK = """
import sys
sys.modules["dask"] = None  # what a missing package looks like to import
import dashtam_nb as dn
try:
    dn.dask
except dn.ConfigError as exc:
    print("ConfigError:", exc)
"""


def test_dn_dask_without_dask_is_a_config_error_naming_the_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NO_DASK],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout.strip()
    assert out.startswith("ConfigError:"), out
    assert "pip install dashtam_nb[dask]" in out
    assert "\n" not in out


def test_dn_dask_with_dask_is_the_module() -> None:
    import dashtam_nb as dn
    from dashtam_nb import dask as dn_dask

    assert dn.dask is dn_dask
    assert callable(dn.dask.read_frame)
    assert callable(dn.dask.write_frame)
