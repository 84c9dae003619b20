"""Use cases: explicit arguments in, domain errors and events out; no transport imports."""
