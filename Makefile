# hybridembed. The README's first two commands are `make demo` and `make test`.
SHELL := /bin/bash
GO    ?= go
# Debian's python3-torch and python3-onnx land in /usr/bin/python3, which may
# not be the python3 on PATH.
PY    ?= /usr/bin/python3
BENCH ?= .bench

.PHONY: all build test vet fuzz demo bench fixtures onnxruntime onnxruntime-gpu libjpeg-turbo libheif test-arm64 test-install gpu-stage cross clean

all: build

## onnxruntime: install the pinned ONNX Runtime (CPU) into hybridembed's cache
onnxruntime:
	@scripts/install-onnxruntime.sh >/dev/null

## libjpeg-turbo: install libjpeg-turbo's TurboJPEG library (JPEGs decoded
## exactly as Pillow does, and faster); without it Go's decoder is used
libjpeg-turbo:
	@scripts/install-libjpeg-turbo.sh >/dev/null

## libheif: install libheif (HEIC, HEIF and AVIF photos decoded as
## Pillow-heif does); without it they are reported as unsupported
libheif:
	@scripts/install-libheif.sh >/dev/null

## onnxruntime-gpu: install the CUDA build instead
onnxruntime-gpu:
	@scripts/install-onnxruntime.sh --gpu >/dev/null

build:
	$(GO) build -o bin/hybridembed ./cmd/hybridembed

STATICCHECK_VERSION ?= v0.8.2

vet:
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt wants changes"; exit 1; }

# CI (which has ../shared beside the clone) turns a missing shared golden,
# Node.js test client or Chromium into a failure; elsewhere those tests skip
# with a message.
HYBRIDEMBED_TEST_STRICT ?= $(if $(CI),1,)

## test: install ONNX Runtime if needed, vet, and run every test with the race detector
test: onnxruntime vet cross
	@if scripts/install-libjpeg-turbo.sh >/dev/null; then echo 1 >.turbojpeg-ok; else rm -f .turbojpeg-ok; \
		echo "make test: libjpeg-turbo is not installable here: JPEG tests run on Go's decoder only"; fi
	@scripts/install-chromium.sh >/dev/null || \
		echo "make test: Chromium is not installable here: the search page's browser tests skip (and fail under CI)"
	@if scripts/install-libheif.sh >/dev/null; then echo 1 >.libheif-ok; else rm -f .libheif-ok; \
		echo "make test: libheif is not installable here: the HEIC tests skip"; fi
	HYBRIDEMBED_REQUIRE_TURBOJPEG=$$(cat .turbojpeg-ok 2>/dev/null) HYBRIDEMBED_REQUIRE_LIBHEIF=$$(cat .libheif-ok 2>/dev/null) HYBRIDEMBED_REQUIRE_ORT=1 HYBRIDEMBED_TEST_STRICT=$(HYBRIDEMBED_TEST_STRICT) $(GO) test -race -count=1 ./...

## fuzz: run every fuzz target for FUZZTIME (default 30s) each, one after
## another (FUZZ=regexp picks targets; FUZZFLAGS adds go test flags); the
## committed seeds run in make test
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

## test-install: scripts/install-onnxruntime.sh --from installs the CPU and
## CUDA builds from archives copied by hand with no network (npm pack
## fetches them into ~/.cache/hybridembed/tarballs first, 440 MB, once),
## and refuses bad copies
test-install:
	scripts/test-install-onnxruntime.sh

## test-arm64: the engine, parity, index, server and CLI tests on linux/arm64,
## cross-compiled with cgo and run under qemu-aarch64 (slow; see README)
test-arm64:
	scripts/test-arm64.sh

## cross: build the CLI for windows/amd64 (cgo, mingw-w64) and check that it
## compiles for darwin/arm64 and darwin/amd64 (part of make test)
cross:
	@scripts/build-cross.sh bin

## demo: rank the 96 held-out shapes against captions (and embed the sample images)
demo: onnxruntime build
	@scripts/install-libjpeg-turbo.sh >/dev/null 2>&1 || true
	@scripts/demo.sh

## bench: the library index (re-index, scan, size); native memory over
## 25,000 JPEG decodes; the server under 64 clients against one batched
## call; the server's peak memory under a flood of big bodies and huge
## images (tiny and full-size models); end-to-end image throughput against
## raw ONNX Runtime on full-size ViT-B/32; the search page (a query's
## server time on 100,000 images, first results painted in Chromium,
## previews); SigLIP 2 base images and texts against raw ONNX Runtime, and
## its 256k-token tokenizer's load time
bench: onnxruntime build
	$(GO) run ./scripts/benchindex -work $(BENCH) -cli bin/hybridembed
	@if scripts/install-libjpeg-turbo.sh >/dev/null; then $(GO) run ./scripts/benchrss; \
		else echo "make bench: libjpeg-turbo is not installable here: benchrss (native memory of JPEG decoding) skipped"; fi
	@if [ ! -f $(BENCH)/vit-b32/onnx/text_model.onnx ] || [ ! -f $(BENCH)/minilm-l6/onnx/model.onnx ]; then \
		$(PY) -c 'import torch, onnx, sentencepiece' 2>/dev/null || { echo "make bench generates a random-weight ViT-B/32 and needs Debian's python3-torch, python3-onnx and python3-sentencepiece: apt-get install -y python3-torch python3-onnx python3-pil python3-numpy python3-sentencepiece"; exit 1; }; \
		echo "generating a full-size random-weight ViT-B/32 in $(BENCH)/vit-b32 (not committed)"; \
		$(PY) scripts/make_fixtures.py --bench $(BENCH)/vit-b32; \
	fi
	$(GO) run ./scripts/benchserve -model $(BENCH)/vit-b32
	$(GO) run ./scripts/benchserve -flood -cli bin/hybridembed -model testdata/models/tiny-clip
	$(GO) run ./scripts/benchserve -flood -cli bin/hybridembed -model $(BENCH)/vit-b32
	$(GO) run ./scripts/benchtext -models $(BENCH)/vit-b32,$(BENCH)/minilm-l6
	$(GO) run ./scripts/bench -model $(BENCH)/vit-b32 -work $(BENCH)
	@scripts/install-chromium.sh >/dev/null || echo "make bench: no Chromium: the search page's paint time is skipped"
	$(GO) run ./scripts/benchwebui -model $(BENCH)/vit-b32 -work $(BENCH)
	@if [ ! -f $(BENCH)/siglip2-base/onnx/text_model.onnx ]; then \
		echo "generating a full-size random-weight SigLIP 2 base in $(BENCH)/siglip2-base (not committed)"; \
		$(PY) scripts/make_fixtures.py --bench-siglip2 $(BENCH)/siglip2-base; \
	fi
	$(GO) run ./scripts/benchfamily -model $(BENCH)/siglip2-base -images $(BENCH)/jpeg-1024x768
	@# The CUDA rows: skipped, saying why, where CUDA is unavailable
	@# (install the CUDA build with `make onnxruntime-gpu` first).
	$(GO) run ./scripts/benchtext -device cuda -models $(BENCH)/vit-b32,$(BENCH)/minilm-l6 -batch 256
	$(GO) run ./scripts/benchcuda -model $(BENCH)/vit-b32 -work $(BENCH)

## gpu-stage: build what scripts/gpu-check.sh runs on a GPU machine with no Go
## and no network (binaries, libjpeg-turbo, the CUDA build), in parts under .gpu/
gpu-stage:
	scripts/gpu-stage.sh

## fixtures: regenerate testdata/ (small random-weight models and goldens,
## and the trained demo model: a few minutes; Debian's libopenblas0-pthread
## makes PyTorch ten times faster here)
fixtures:
	$(PY) scripts/make_fixtures.py
	$(PY) scripts/train_demo.py

clean:
	rm -rf bin
