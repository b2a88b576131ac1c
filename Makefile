# Entry points; each target runs one script (see README.md and docs/benchmarks.md).
.PHONY: dev test bench profile

dev:
	scripts/dev

test:
	scripts/test

bench:
	scripts/bench

profile:
	scripts/profile
