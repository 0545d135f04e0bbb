# The two commands of the README. Both install what the build needs first.
.PHONY: run test setup

setup:
	@scripts/setup.sh

# Starts the service with the demo site and data from fixtures/ on a
# simulated clock (60x real time); prints a key per role and what to open.
run: setup
	cargo build -p arbiter
	target/debug/arbiter serve --demo

test: setup
	cargo test --workspace
