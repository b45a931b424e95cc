"""The system's Chromium, driven through Selenium and Debian's chromedriver.

Selenium, not Playwright: chromedriver comes from the same Debian build as
the browser (``chromium-driver``), so driver and browser always match after
an upgrade, while each Playwright release targets one Chromium revision of
its own and may stop working with the system's. No browser is downloaded:
`make browser` installs both from apt.

The flags keep Chromium from phoning home; on this closed network the
background services otherwise stall or fail the start. Each browser gets a
fresh profile, so nothing (cache, storage) leaks from one run to the next.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    # The sandbox needs root's refusal lifted, or user namespaces a container
    # may not grant; the pages are our own, from localhost and files.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
    "--window-size=1400,1000",
)


def missing() -> str | None:
    """Why no browser can start here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return (
                f"{path} is missing: run `make browser` (apt chromium chromium-driver)"
            )
    return None


def start(profile: Path | None = None) -> webdriver.Chrome:
    """A headless Chromium with a fresh profile that records the console."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    profile = profile or Path(tempfile.mkdtemp(prefix="dn-chromium-"))
    options.add_argument(f"--user-data-dir={profile}")
    # Console messages (and failed loads) become readable with get_log.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """The console's errors since the last call (the log is drained)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")
    return [str(e["message"]) for e in entries if e.get("level") == "SEVERE"]
