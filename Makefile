# The two commands of the README. Both install what the build needs first.
.PHONY: run test setup

setup:
	@scripts/setup.sh

# Solves the site-day fixture and prints the plan's summary.
run: setup
	cargo run -p arbiter -- solve fixtures/problems/site-day.json --out target/site-day-plan.json
	@echo "plan written to target/site-day-plan.json"

test: setup
	cargo test --workspace
