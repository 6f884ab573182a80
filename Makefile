# conlab: a thin wrapper over CMake (like neovim's). `make run` and `make test`
# install missing Debian packages, configure, build, and run.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
ARGS       ?=
CTEST      := ctest --output-on-failure --timeout 300

.PHONY: all deps configure build run quick test test-fast test-asan test-tsan clean help

all: build

help:
	@echo "make run        install what is missing, build, run the story suite (ARGS=... to pass options)"
	@echo "make test       build, run the tests, then the tests under ASan+UBSan"
	@echo "make test-tsan  the tests under ThreadSanitizer"
	@echo "make quick      conlab run --quick"
	@echo "make clean      remove build directories"

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/conlab run $(ARGS)

quick: build
	./$(BUILD)/conlab run --quick $(ARGS)

test-fast: build
	cd $(BUILD) && $(CTEST) -j $(JOBS)

test: test-fast test-asan

test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCL_SANITIZER=address,undefined -DCL_WERROR=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(CTEST) -j $(JOBS) -LE slow

test-tsan: deps
	# libgomp is not instrumented for TSan (its barriers are invisible to it), so
	# the TSan build leaves the openmp executor out; ASan and plain builds test it.
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCL_SANITIZER=thread -DCL_WERROR=ON -DCL_OPENMP=OFF
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(CTEST) -j $(JOBS) -LE slow

clean:
	rm -rf $(BUILD) build-asan build-tsan
