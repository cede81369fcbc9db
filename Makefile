# The two commands a newcomer needs:
#   make run    install what is missing, build, and start ehall on SQLite (http://127.0.0.1:8080)
#   make test   install what is missing, build, and run the whole suite (SQLite, PostgreSQL, sanitizers)
# and, for measurements:
#   make bench  wrk against ehall and nginx side by side, then the identity benchmarks
#               (log-in throughput, session checks), then the case engine's (submissions,
#               lists over 10 million cases; see docs/performance.md)
.PHONY: run test bench build clean

build:
	scripts/bootstrap.sh
	cmake -S . -B build -DBUILD_TESTING=ON >/dev/null
	cmake --build build -j$$(nproc)

run: build
	./build/ehall serve

test:
	scripts/test.sh

bench:
	scripts/bootstrap.sh
	bench/run.sh
	bench/auth.sh
	bench/cases.sh

clean:
	rm -rf build build-asan build-bench
