"""Helpers for pytest only (a kiosk pressed in a child process, a command run with its heavy imports reported).

Builders of test data, throw-away brokers and databases, the fault proxy and the simulators are development
tooling shared with `bench/`: they live in `devtools/`."""
