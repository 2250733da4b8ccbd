"""The entry point above every layer: the `screensight` command starts the app or runs a headless command."""
