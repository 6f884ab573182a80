# conlab: a thin wrapper over CMake (like neovim's). `make run` and `make test`
# install missing Debian packages, configure, build, and run.
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
ARGS       ?=
CTEST      := ctest --output-on-failure --timeout 300

.PHONY: all deps configure build run quick test test-fast test-asan test-tsan test-fuzz clean help

all: build

help:
	@echo "make run        install what is missing, build, run the story suite (ARGS=... to pass options)"
	@echo "make test       build, run the tests, then the tests under ASan+UBSan"
	@echo "make test-tsan  the tests under ThreadSanitizer"
	@echo "make test-fuzz  each libFuzzer target for FUZZ_SECONDS (20) s (clang)"
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

test: test-fast test-asan test-fuzz

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

# libFuzzer (clang, ASan+UBSan): each target runs from its seed corpus (and the
# inputs that once crashed it) for FUZZ_SECONDS; a crash fails the target and
# leaves its input in build-fuzz/. FUZZ_SECONDS=300 for a longer hunt.
FUZZ_SECONDS ?= 20
FUZZ_TARGETS := cli parse readback
test-fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_CXX_COMPILER=clang++ -DCL_FUZZ=ON -DCL_SANITIZER=address,undefined -DBUILD_TESTING=OFF
	cmake --build build-fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; \
	  dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  build-fuzz/fuzz/fuzz_$$t build-fuzz/corpus/$$t fuzz/corpus/$$t $$dict \
	    -max_total_time=$(FUZZ_SECONDS) -runs=20000000 -timeout=10 -rss_limit_mb=2048 \
	    -close_fd_mask=3 -print_final_stats=1 -artifact_prefix=build-fuzz/fuzz_$$t- \
	    >build-fuzz/fuzz_$$t.log 2>&1; rc=$$?; \
	  grep -E '^(Done |stat::number_of_executed_units)' build-fuzz/fuzz_$$t.log; \
	  if [ $$rc -ne 0 ]; then tail -n 40 build-fuzz/fuzz_$$t.log; exit 1; fi; \
	done

clean:
	rm -rf $(BUILD) build-asan build-tsan
