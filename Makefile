# The two commands of the README. Both install what the build needs first.
.PHONY: run test setup

setup:
	@scripts/setup.sh

# Starts the service with the demo site and data from fixtures/ on a
# simulated clock (60x real time); prints a key per role and what to open.
run: setup
	cargo build -p arbiter
	target/debug/arbiter serve --demo

# The whole workspace on SQLite, then the service's in-process suite again
# on PostgreSQL (a throwaway cluster the tests start and stop themselves).
test:
	@scripts/setup.sh --test
	cargo test --workspace
	ARBITER_TEST_DATABASE=postgres cargo test -p arbiter-server --test it
