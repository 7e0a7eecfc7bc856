# petit — plain Makefile. `make` builds ./petit, libpetit.a and libpetit.so and says what it found.
#   make test     build and run the test suite (ends with "N passed, N failed")
#   make debug    -O0 -g build in build-debug/
#   make asan     AddressSanitizer + UBSan build in build-asan/, then its tests
#   make emul512  the AVX-512/VNNI kernels emulated on AVX2 (SIMDe), under the per-ISA tests
#                 (TESTS="test_x t_y.sh" picks tests for any test target)
#   make bench    run the benchmarks in bench/
# Knobs: NO_OPENMP=1, NO_BLAS=1 (built-in kernels only), NO_MPI=1, NO_MHD=1 (no petit serve),
#        CC=clang, BUILD=dir.

SHELL   := /bin/bash
CC      ?= cc
BUILD   ?= build
OPT     ?= -O3 -march=native
CFLAGS  ?= $(OPT) -g
WARN    := -std=c11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wvla
CPPFLAGS := -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
LDLIBS  := -lm -lpthread

# ---- probes: print what we found --------------------------------------------
ifneq ($(NO_OPENMP),1)
  HAVE_OMP := $(shell printf '#include <omp.h>\nint main(void){return omp_get_max_threads()<0;}' | \
               $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1)
endif
ifneq ($(NO_BLAS),1)
  HAVE_BLAS := $(shell printf '#include <cblas.h>\nint main(void){float a=1,b=1,c=0;cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,1,1,1,1,&a,1,&b,1,0,&c,1);return c!=1;}' | \
               $(CC) -x c - -o /dev/null -lopenblas 2>/dev/null && echo 1)
endif
ISA := $(shell $(CC) $(OPT) -dM -E -x c /dev/null 2>/dev/null | \
         awk '/__AVX512F__/{a5=1}/__AVX2__/{a2=1}/__FMA__/{f=1}/__AVX512VNNI__/{vn=1} \
              END{s=""; if(a2)s=s" avx2"; if(f)s=s" fma"; if(a5)s=s" avx512"; if(vn)s=s" vnni"; print (s==""?" generic":s)}')

ifeq ($(HAVE_OMP),1)
  CFLAGS_X += -fopenmp
  LDLIBS   += -fopenmp
  OMP_MSG  := ✓ OpenMP
else
  CFLAGS_X += -Wno-unknown-pragmas
  OMP_MSG  := ✗ OpenMP (single-threaded)
endif
ifeq ($(HAVE_BLAS),1)
  CPPFLAGS += -DPETIT_BLAS
  LDLIBS   += -lopenblas
  BLAS_MSG := ✓ OpenBLAS (cblas_sgemm)
else
  BLAS_MSG := ✗ OpenBLAS (built-in sgemm)
endif

# MPI (data-parallel training under mpirun): the compile and link flags of mpicc
ifneq ($(NO_MPI),1)
  MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null)
  MPI_LIBS   := $(shell mpicc --showme:link 2>/dev/null)
  HAVE_MPI   := $(shell printf '#include <mpi.h>\nint main(void){return MPI_Init(0,0);}' | \
                  $(CC) $(MPI_CFLAGS) -x c - -o /dev/null $(MPI_LIBS) 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_MPI),1)
  CPPFLAGS += -DPETIT_MPI $(MPI_CFLAGS)
  LDLIBS   += $(MPI_LIBS)
  MPI_MSG  := ✓ MPI (mpirun -np N petit train)
else
  MPI_MSG  := ✗ MPI (no mpicc: one process)
endif

# libmicrohttpd (petit serve's HTTP): linked into ./petit only, not the library
ifneq ($(NO_MHD),1)
  HAVE_MHD := $(shell printf '#include <stdarg.h>\n#include <stdint.h>\n#include <sys/types.h>\n#include <sys/socket.h>\n#include <microhttpd.h>\nint main(void){return MHD_is_feature_supported(MHD_FEATURE_THREADS)<0;}' | \
                $(CC) -x c - -o /dev/null -lmicrohttpd 2>/dev/null && echo 1)
endif
ifeq ($(HAVE_MHD),1)
  CPPFLAGS += -DPETIT_MHD
  CLI_LIBS := -lmicrohttpd
  MHD_MSG  := ✓ libmicrohttpd (petit serve)
else
  MHD_MSG  := ✗ libmicrohttpd (no petit serve)
endif

# EMUL512=1 (make emul512): the AVX-512 and VNNI kernels run on SIMDe's
# portable intrinsics (libsimde-dev), so an AVX2-only CPU tests them lane for lane
ifeq ($(EMUL512),1)
  CPPFLAGS += -DPETIT_EMUL512
endif

# position-independent objects, so that one set makes libpetit.a, libpetit.so
# and ./petit (no second compile); no interposition, so code inside the
# library calls itself directly (as -fPIE would); only petit_* is exported
PIC := -fPIC -fno-semantic-interposition -fvisibility=hidden
ALL_CFLAGS = $(WARN) $(CFLAGS) $(CFLAGS_X) $(PIC)

LIB_SRC  := $(sort $(wildcard src/base/*.c src/gguf/*.c src/text/*.c src/eval/*.c src/nn/*.c src/model/*.c \
                              src/train/*.c src/decode/*.c src/compress/*.c src/import/*.c))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test debug asan emul512 bench clean info demo model FORCE
# ./petit and ./libpetit.a at the top are copies of the default build only;
# other builds (BUILD=build-asan, NO_BLAS=1 BUILD=...) stay in their folder.
ifeq ($(BUILD),build)
all: info petit libpetit.a libpetit.so
else
all: info $(BUILD)/petit $(BUILD)/libpetit.a $(BUILD)/libpetit.so
endif

info:
	@echo "petit build: $(CC)  [$(OMP_MSG)]  [$(BLAS_MSG)]  [$(MPI_MSG)]  [$(MHD_MSG)]  [ISA:$(ISA)]"

petit: $(BUILD)/petit
	@rm -f $@ && cp $< $@

$(BUILD)/petit: $(CLI_OBJ) $(BUILD)/libpetit.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS) $(CLI_LIBS)

libpetit.a: $(BUILD)/libpetit.a
	@rm -f $@ && cp $< $@

libpetit.so: $(BUILD)/libpetit.so
	@rm -f $@ && cp $< $@

# rebuild everything when the compiler flags change (NO_BLAS=1 and friends)
FLAGS_SIG := $(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDLIBS) $(CLI_LIBS)
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(FLAGS_SIG)' | cmp -s - $@ || echo '$(FLAGS_SIG)' > $@

$(BUILD)/libpetit.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# the C API of include/petit.h as a shared library (the same objects)
$(BUILD)/libpetit.so: $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libpetit.so -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libpetit.a $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/libpetit.a $(LDLIBS)

# the C API test links the shared library (found beside it at run time)
$(BUILD)/tests/test_capi: tests/test_capi.c tests/test.h $(BUILD)/libpetit.so $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -Itests -o $@ $< -L$(BUILD) -lpetit -Wl,-rpath,'$$ORIGIN/..' -lm

# benchmark programs that link the library (bench/*.sh build them with make)
$(BUILD)/bench/multiaxis_steps: bench/multiaxis_steps.c $(BUILD)/libpetit.a $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpetit.a $(LDLIBS)
$(BUILD)/bench/qlinear: bench/qlinear.c $(BUILD)/libpetit.a $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpetit.a $(LDLIBS)

tests: $(TEST_BIN) $(BUILD)/petit

test: info tests
	@PETIT=$(BUILD)/petit BUILD=$(BUILD) TESTS="$(TESTS)" bash tests/run.sh

debug:
	$(MAKE) BUILD=build-debug OPT=-O0 petit tests

# PETIT_ASAN=1: tests that send many requests scale down (tests/t_serve_memory.sh)
asan:
	PETIT_ASAN=1 $(MAKE) BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# the AVX-512 and VNNI kernels, emulated (EMUL512=1), under the tests that
# run each ISA level: on an AVX2-only CPU the only way to run them. Skipped,
# visibly, without SIMDe's headers or AVX2.
EMUL512_TESTS := test_quant test_quant_model test_qat test_linear_rows t_isa.sh t_threads.sh
emul512:
	@if ! printf '#include <simde/x86/avx512.h>\n' | $(CC) -mavx2 -E -x c - >/dev/null 2>&1; then \
	    echo "emul512: skipped (no SIMDe headers: apt-get install libsimde-dev)"; \
	elif ! grep -qw avx2 /proc/cpuinfo 2>/dev/null; then echo "emul512: skipped (no AVX2)"; \
	else $(MAKE) --no-print-directory BUILD=build-emul512 EMUL512=1 OPT="-O2 -mavx2 -mfma -mf16c -Wno-psabi" \
	    TESTS="$(EMUL512_TESTS)" test; fi

bench: petit
	@for b in bench/*.sh; do echo "== $$b"; bash $$b --quick || exit 1; done

# ---- fuzzing (clang's libFuzzer, with AddressSanitizer and UBSan) ----------
# make fuzz: FUZZ_TIME seconds per target (FUZZ_TARGETS to pick some), new
# inputs kept in build-fuzz/corpus/; make fuzz-smoke: a few seconds each (CI).
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 60
FUZZ_FLAGS   := -O1 -g -march=native -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_ALL     := $(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS ?= $(FUZZ_ALL)
.PHONY: fuzz fuzz-build fuzz-smoke
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) NO_OPENMP=1 NO_BLAS=1 NO_MPI=1 \
	    OPT="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -fsanitize-coverage-ignorelist=$(CURDIR)/tests/fuzz/ignore.txt" build-fuzz/libpetit.a
	@for t in $(FUZZ_ALL); do \
	    $(FUZZ_CC) $(WARN) $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer tests/fuzz/$$t.c \
	        build-fuzz/libpetit.a -lm -lpthread -o build-fuzz/$$t || exit 1; done
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do mkdir -p build-fuzz/corpus/$$t; echo "== $$t ($(FUZZ_TIME) s)"; \
	    build-fuzz/$$t build-fuzz/corpus/$$t tests/fuzz/seeds/$$t -max_total_time=$(FUZZ_TIME) \
	        -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build-fuzz/$$t- 2>&1 | \
	        grep -E "^stat::number_of_executed_units|^stat::peak_rss|cov: .*corp|ERROR|SUMMARY" | tail -5; \
	    test $${PIPESTATUS[0]} -eq 0 || exit 1; done
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_TIME=$(or $(SMOKE_TIME),5)

# a few sentences through each bundled model (tiny; base where it is installed),
# numbers, prices and quotes among them
demo: petit
	@test -f models/en-fr.gguf || { echo "models/en-fr.gguf is missing (make model builds it)"; exit 1; }
	@mkdir -p $(BUILD) && printf '%s\n' "A man is riding a bicycle down the street." \
	    "Two young girls are playing in the park." "I would like a cup of coffee, please." \
	    "The committee will vote on the proposal next week." "The ticket costs 25 euros and 50 cents." \
	    "She was born on 14 July 1984, in Paris." 'He said: "I will be there at 8 o'"'"'clock."' \
	    "About 3,500 people (more than last year) came to the concert." > $(BUILD)/demo.en
	@for m in tiny base; do \
	    f=models/en-fr.gguf; [ $$m = base ] && f=models/en-fr-base.gguf; [ -f $$f ] || continue; \
	    echo "== $$m ($$f)"; ./petit translate -m $$f --beam 4 < $(BUILD)/demo.en | \
	    paste -d '\n' $(BUILD)/demo.en - | sed 'n;s/^/  -> /'; done

# the whole recipe (hours on 2 cores; resumable): see recipe/en-fr.sh
model: petit
	BUNDLE=1 bash recipe/en-fr.sh

clean:
	rm -rf build build-debug build-asan build-emul512 build-fuzz petit libpetit.a libpetit.so

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
