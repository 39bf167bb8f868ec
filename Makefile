# Every target sets up the project-local virtual environment it needs (.venv) and reuses it afterwards.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Prefect: local state in the project, no telemetry, room for the first start's database migration.
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180

.PHONY: demo test test-slow test-all lint bench clean install browser train-ner

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@touch $@

demo: $(STAMP)  ## generate a synthetic lake in ./demo-lake and run the nightly pipeline on it
	$(BIN)/piiflow demo

# Tests run on TEST_WORKERS processes (pytest-xdist), whole files per worker so module fixtures are built once.
# Three on two cores: the long tests mostly wait (on killed and re-run children, moto, Prefect servers), and a third
# worker fills that time.
TEST_WORKERS ?= 3

# The release report is tested in a real headless browser: Debian's chromium (no browser download at run time).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# `make test` is everyone's loop (under 10 minutes on 2 cores): every test but the few marked slow, which repeat
# what others show on a larger scale (random kills by the dozen, a real work pool and worker, a browser, the whole
# demo). `make test-slow` runs those; CI (.ci/run) runs both, so nothing they prove is dropped.
test: $(STAMP)  ## the test suite, but the slow few
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 -m "not slow"

test-slow: $(STAMP) browser  ## the slow few: fault injection, production (work pool, worker, Dask), browser, demo
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 -m slow

test-all: test test-slow  ## both

# The Chinese NER models from ../shared/ner-corpus: transforms/models/zh_ner.crfsuite (with LAC's tags, about 23
# minutes on one core) and zh_ner_recall.crfsuite (without, the release engine's second model, about 12), in parallel.
NER_CORPUS ?= ../shared/ner-corpus/train.jsonl
train-ner: $(STAMP)  ## retrain the shipped Chinese NER models from NER_CORPUS
	$(BIN)/python -m flows.train_ner --corpus $(NER_CORPUS) --features lac & \
	$(BIN)/python -m flows.train_ner --corpus $(NER_CORPUS) --features base; wait

lint: $(STAMP)  ## imports and names (ruff)
	$(BIN)/ruff check configs flows transforms tests bench

bench: $(STAMP)  ## every benchmark in bench/, one JSON line each
	@for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .prefect demo-lake .demo-lake.key .demo-lake.anchors .piiflow-demo .pytest_cache .hypothesis
