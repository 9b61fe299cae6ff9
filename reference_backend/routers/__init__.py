"""The `/v1` routes, one router per domain; `reference_backend.app` includes them in order."""
