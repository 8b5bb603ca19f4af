# The two commands a newcomer needs (README "Quick start"):
#   make run    install jirahooks[server,postgres] into .venv and start the server on its
#               embedded SQLite default (not the test stack)
#   make test   install everything the tests use into .venv, start PostgreSQL/Redis if down,
#               lint, type-check, run all tests
#   make dist   build the wheel into dist/ (README "Installing": what CI and laptops install)
.PHONY: run test lint bench venv dist clean

PYTHON ?= python3
DIST ?= dist

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

dist:
	@rm -rf "$(DIST)" && mkdir -p "$(DIST)"
	@$(PYTHON) -m pip wheel --quiet --no-deps --wheel-dir "$(DIST)" .
	@cd "$(DIST)" && for f in *.whl; do echo "$(DIST)/$$f  sha256=$$(sha256sum "$$f" | cut -d' ' -f1)"; done

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache build dist
