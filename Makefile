# rockd: the two commands of the README, and what they stand on.
# Both run scripts/setup.sh first, which installs whatever is missing and is quick otherwise.

VENV := .venv/bin
ARGS ?=

.PHONY: demo test setup lint bench install

demo: setup
	$(VENV)/rockd demo $(ARGS)

test: setup
	$(VENV)/ruff check rockd rockctl tests bench
	$(VENV)/mypy rockd rockctl
	$(VENV)/python -m pytest $(ARGS)

setup:
	@bash scripts/setup.sh

# rockd as a service on this box: /opt/rockd, /usr/local/bin/rockd, its systemd units (started
# where systemd is PID 1); ARGS as scripts/install.sh takes them
install:
	bash scripts/install.sh $(ARGS)

lint: setup
	$(VENV)/ruff check rockd rockctl tests bench

bench: setup
	$(VENV)/python bench/journal.py
	$(VENV)/python bench/stream.py
	$(VENV)/python bench/stream_ratio.py --rounds 3
	$(VENV)/python bench/stream_flood.py
	$(VENV)/python bench/scale.py
	$(VENV)/python bench/scale_disks.py
	$(VENV)/python bench/ui_scale.py
	$(VENV)/python bench/latency.py
	$(VENV)/python bench/replication.py
	$(VENV)/python bench/alerts.py
	$(VENV)/python bench/idle_writes.py --seconds 600
	$(VENV)/python bench/endurance.py
