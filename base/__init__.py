"""The shared base below every other package: user-facing errors, the app's folders, shared value types."""
