# berth: two commands. `make run` starts the platform with The Voice (and demo models); `make test` runs every check.
# Both create the virtual environment when it is missing and (re)install only when the pins changed:
# `make run` what running needs (berth's runtime dependencies and The Voice), `make test` the
# optional parts (extras) and the dev tools as well.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt
RUN_STAMP := $(VENV)/.berth-run
STAMP  := $(VENV)/.berth-dev

.PHONY: run test lint typecheck layers unit install install-run system-packages clean bench grpc image image-smoke image-clean

$(RUN_STAMP): pyproject.toml constraints.txt examples/the_voice/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# berth was the distribution's name before berth-serving: its old install (and its metadata in
	@# src/, on the path of an editable install) would declare berth's entry points twice
	@$(BIN)/python -m pip uninstall -q -y berth 2>/dev/null || true
	@rm -rf src/berth.egg-info
	$(PIP) -e '.[text]'
	$(PIP) --no-deps -e examples/the_voice
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PIP) -e '.[dev,torch,spark]'
	@touch $(STAMP)

install-run: $(RUN_STAMP)

install: $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/berth demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

system-packages:
	@bash .ci/system-packages

# Test files run in parallel, each file on one worker (its module fixtures made once); a test class
# is a unit of its own (--dist loadscope), so a long file is split in classes. Most of the suite
# waits on servers and processes, so more workers than the 2 cores pays. TEST_WORKERS=0: serial.
# Tests marked `alone` measure latency: they run afterwards, with nothing else on the machine.
TEST_WORKERS ?= 4

unit: $(STAMP) system-packages
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope -m "not alone" --durations=50
	$(BIN)/pytest -m alone

test: lint typecheck layers unit

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .berth

# Regenerates the OIP V2 gRPC code from src/berth/server/grpc/proto/berth_inference.proto. The
# messages go into a private descriptor pool (not protobuf's default one), so berth can share a
# process with tritonclient, KServe or MLServer, whose generated code declares the same
# `inference.*` names; the files get `# ruff: noqa` and `# mypy: ignore-errors` headers and ruff's
# formatting.
grpc: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I src --python_out=src --pyi_out=src --grpc_python_out=src \
		src/berth/server/grpc/proto/berth_inference.proto
	cd src/berth/server/grpc/proto && for f in berth_inference_pb2.py berth_inference_pb2.pyi berth_inference_pb2_grpc.py; do \
		{ printf '# ruff: noqa\n# mypy: ignore-errors\n'; sed 's/_descriptor_pool\.Default()\.AddSerializedFile(/_descriptor_pool.DescriptorPool().AddSerializedFile(/' $$f; } > $$f.tmp \
		&& mv $$f.tmp $$f; done
	grep -q '_descriptor_pool.DescriptorPool().AddSerializedFile(' src/berth/server/grpc/proto/berth_inference_pb2.py
	$(BIN)/ruff format -q src/berth/server/grpc/proto

# berth's container image (docs/image.md; not part of `make test`). These machines have no Docker
# engine and pull no base images: buildah builds on a Debian base made here with debootstrap, and
# podman runs it with runc, vfs storage and the host's network. With a registry:
# `make image BASE=docker.io/library/python:3.11-slim`.
IMAGE ?= localhost/berth
BASE  ?= localhost/berth-base:bookworm
STORAGE_DRIVER ?= vfs

image:
	IMAGE=$(IMAGE) BASE=$(BASE) STORAGE_DRIVER=$(STORAGE_DRIVER) scripts/image/build.sh

# The image against this machine's PostgreSQL (a fresh database) and moto's S3 server: a pushed
# model's prediction, then a model image from `berth image build` and its prediction; sizes and
# start-to-ready times printed.
image-smoke: $(STAMP) image
	STORAGE_DRIVER=$(STORAGE_DRIVER) $(BIN)/python bench/image_smoke.py --image $(IMAGE):latest

image-clean:
	-podman --storage-driver $(STORAGE_DRIVER) images --format '{{.Repository}}:{{.Tag}}' \
		| grep -E '^(localhost/berth-model-[a-z0-9._-]+):' \
		| xargs -r podman --storage-driver $(STORAGE_DRIVER) rmi --force
	-podman --storage-driver $(STORAGE_DRIVER) rmi --force $(IMAGE):latest $(IMAGE):$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1) $(BASE)
