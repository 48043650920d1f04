# rockd: the two commands of the README, and what they stand on.
# Both run scripts/setup.sh first, which installs whatever is missing and is quick otherwise.

VENV := .venv/bin
ARGS ?=

.PHONY: demo test setup lint bench

demo: setup
	$(VENV)/rockd demo $(ARGS)

test: setup
	$(VENV)/ruff check rockd tests bench
	$(VENV)/mypy rockd
	$(VENV)/python -m pytest $(ARGS)

setup:
	@bash scripts/setup.sh

lint: setup
	$(VENV)/ruff check rockd tests bench

bench: setup
	$(VENV)/python bench/journal.py
	$(VENV)/python bench/stream.py
	$(VENV)/python bench/stream_flood.py
	$(VENV)/python bench/scale.py
	$(VENV)/python bench/latency.py
	$(VENV)/python bench/replication.py
