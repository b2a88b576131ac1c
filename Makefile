# Entry points; each target runs one script (see README.md and docs/benchmarks.md).
.PHONY: dev test bench soak profile

dev:
	scripts/dev

test:
	scripts/test

bench:
	scripts/bench

soak:
	scripts/soak

profile:
	scripts/profile
