# The two commands a newcomer needs (README "Quick start"):
#   make run    install into .venv and start the server on its embedded SQLite default
#   make test   install into .venv, start PostgreSQL/Redis if down, lint, type-check, run all tests
.PHONY: run test lint bench venv clean

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

lint:
	@bash scripts/test.sh --lint-only

bench:
	@bash scripts/bench.sh

venv:
	@bash scripts/venv.sh

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache build dist
