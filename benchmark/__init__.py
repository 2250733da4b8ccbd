"""The benchmark (`screensight bench`): latency, speed and memory of the whole pipeline, off the app's runtime path."""
