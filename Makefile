# Every target sets up its own .venv; nothing is installed by hand.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check bench proto clean

$(STAMP): pyproject.toml setup.py fedscreen/_hmac.c fedscreen/_hmac_norm.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fedscreen demo

test: $(STAMP)
	$(BIN)/pytest

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy fedscreen agent coordinator
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/fedscreen bench tokens
	$(BIN)/fedscreen bench screen --people 1000000

# Regenerate the committed protobuf code; tests/fedscreen/test_proto_fresh.py fails when stale.
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. proto/fedscreen/v1/agent.proto

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
