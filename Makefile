# The two commands a newcomer needs are `make demo` and `make test`; both set up what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
# torch-sys finds libtorch through the venv's python (LIBTORCH_USE_PYTORCH=1).
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
export LIBTORCH_USE_PYTORCH := 1
CARGO ?= cargo

.PHONY: help venv build test demo fmt lint bench bench-serve bench-msra bench-bilstm bench-pretrain container-test clean

help:
	@echo "make demo   - set up, build, train the tiny ALBERT+CRF on the committed sample, print entity P/R/F1"
	@echo "make test   - set up, run every test, cargo fmt --check and clippy -D warnings"
	@echo "make build  - release binaries in target/release (train, serve, predict, export, bench)"
	@echo "make bench  - throughput/memory against the Python peer (needs ../shared)"
	@echo "make bench-serve - serve's throughput, latency and memory against FastAPI peers on torch and onnxruntime int8 (~8 min)"
	@echo "make bench-msra - MSRA test F1 after 30 minutes' training from scratch, ours then the peer (~70 min)"
	@echo "make bench-bilstm - the BiLSTM encoder's speed and 30-minute MSRA F1 against a PyTorch BiLSTM-CRF (~65 min)"
	@echo "make bench-pretrain - task=pretrain's speed against transformers' AlbertForMaskedLM (~15 min)"

venv:
	@scripts/setup-venv.sh

build: venv
	$(CARGO) build --release --bins

test: venv
	scripts/check-no-local-paths.sh
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build --release --bins
	ALBERT_NER_REQUIRE_RELEASE=1 $(CARGO) test --release --workspace

demo: build
	scripts/demo.sh

bench: build
	$(CARGO) build --release --example crf_bench -p albert-model
	scripts/bench.py

bench-serve: build
	scripts/bench_serve.py

bench-msra: build
	scripts/bench_msra_budget.py

bench-bilstm: build
	scripts/bench_bilstm.py speed
	scripts/bench_bilstm.py accuracy

bench-pretrain: build
	scripts/bench_pretrain.py speed

container-test:
	scripts/container-test.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
