# The two commands a newcomer needs:
#   make run    install what is missing, build, and start ehall on SQLite (http://127.0.0.1:8080)
#   make test   install what is missing, build, and run the whole suite (SQLite, PostgreSQL, sanitizers)
# and, for measurements:
#   make bench  wrk against ehall and nginx side by side, then the identity benchmarks
#               (log-in throughput, session checks), the exchange's drain rate and the
#               case engine's (submissions, lists over 10 million cases); see
#               docs/performance.md
.PHONY: run test bench build clean

build:
	scripts/bootstrap.sh
	cmake -S . -B build -DBUILD_TESTING=ON >/dev/null
	cmake --build build -j$$(nproc)
	$(MAKE) --no-print-directory web/dist/index.html

# The browser UI (web/src → web/dist, served by ehall), rebuilt when a source changed.
web/dist/index.html: $(shell find web/src -type f 2>/dev/null) web/vite.config.js package-lock.json
	npm run build

run: build
	./build/ehall calendar import calendar/2025.json >/dev/null
	./build/ehall calendar import calendar/2026.json >/dev/null
	./build/ehall items import items
	./build/ehall license import licences
	./build/ehall tax params import tax/params
	./build/ehall serve

test:
	scripts/test.sh

bench:
	scripts/bootstrap.sh
	bench/run.sh
	bench/auth.sh
	bench/exchange.sh
	bench/cases.sh
	bench/tax.sh
	bench/licence.sh

clean:
	rm -rf build build-asan build-bench
