"""The app's name and its per-user folders (config, cache, data), as the platform places them."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "ScreenSight"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
