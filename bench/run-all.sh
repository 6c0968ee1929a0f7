#!/bin/sh
# Builds logstream in Release mode and runs every benchmark, printing the
# figures that bench/README.md reports, with the machine they came from.
#
#   bench/run-all.sh [BUILD_DIR]        (default: build-rel in the repo)
#
# Environment:
#   LS_WERROR=ON|OFF   passed to CMake (default ON)
#   CC                 compiler for CMake and emit_lines (default cc)
#   BENCH_DIR          where temporary databases and files go (default /tmp)
#   BENCH_QUICK=1      smaller runs (a smoke test of the scripts, not figures)
#   BENCH_ONLY="store latency ingest worker cluster others"   the sections to run
#
# The servers the benchmarks start run with access control on: each benchmark
# starts its server with --admin-token-file and makes worker and read tokens
# through the tokens API. The store section also measures the PostgreSQL back
# end (bench_store --db) on a throwaway durable cluster when PostgreSQL is
# installed (scripts/pg-test-cluster.sh).
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build-rel}
cc=${CC:-cc}
dir=${BENCH_DIR:-/tmp}
only=${BENCH_ONLY:-store latency ingest worker cluster others}
quick=${BENCH_QUICK:-0}

section() { printf '\n==== %s ====\n' "$*"; }
# runs a benchmark; a failure is reported and the other sections still run
bench() { "$@" || echo "FAILED (exit $?): $*"; }
wanted() { case " $only " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

section machine
date -u '+%Y-%m-%d %H:%M:%S UTC'
echo "commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Hypervisor vendor|L3 cache)' || true
echo "nproc $(nproc), kernel $(uname -r), $(grep MemTotal /proc/meminfo | tr -s ' ')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

section build
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DLS_WERROR="${LS_WERROR:-ON}" -DCMAKE_C_COMPILER="$cc" >/dev/null
ninja -C "$build" logstream bench_store bench_latency bench_ingest
mkdir -p "$build/bench"
"$cc" -O2 -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$build/bench/emit_lines" \
    "$repo/bench/emit_lines.c"
ls=$build/logstream
emit=$build/bench/emit_lines
echo "server --flush-interval default: $("$ls" server --help | sed -n 's/.*--flush-interval.*(default: \(.*\))/\1/p')"

if wanted store; then
    section "store (bench_store)"
    if [ "$quick" = 1 ]; then
        bench "$build/bench/bench_store" --lines 200000 --dir "$dir"
    else
        bench "$build/bench/bench_store" --dir "$dir"
        bench "$build/bench/bench_store" --dir "$dir" --full-sync
        bench "$build/bench/bench_store" --dir "$dir" --steps 100 --batch 10000
    fi
    echo "load average: $(cut -d' ' -f1 /proc/loadavg)"
    section "store, PostgreSQL (bench_store --db)"
    pgstate=$dir/bench-pg-$$.state # must not exist yet
    if pgurl=$("$repo/scripts/pg-test-cluster.sh" start --durable --state "$pgstate"); then
        if [ "$quick" = 1 ]; then
            bench "$build/bench/bench_store" --db "$pgurl" --zstd-level 1 --lines 50000
        else
            bench "$build/bench/bench_store" --db "$pgurl" --zstd-level 1 --lines 500000 --batch 10000
            bench "$build/bench/bench_store" --db "$pgurl" --zstd-level 1 --lines 100000 --batch 1000 \
                --steps 10
            bench "$build/bench/bench_store" --db "$pgurl" --zstd-level 1 --lines 20000 --batch 100
        fi
        "$repo/scripts/pg-test-cluster.sh" stop "$pgstate" >/dev/null || true
        echo "load average: $(cut -d' ' -f1 /proc/loadavg)"
    else
        echo "skipped: no PostgreSQL cluster (is PostgreSQL installed? scripts/install-deps.sh)"
    fi
fi

if wanted latency; then
    section "live latency (bench_latency)"
    n=2000
    [ "$quick" = 1 ] && n=200
    bench "$build/bench/bench_latency" --logstream "$ls" --emitter "$emit" --lines $n --dir "$dir" \
        --baseline
    bench "$build/bench/bench_latency" --logstream "$ls" --emitter "$emit" --lines $n --dir "$dir" \
        --flush-interval 1s
fi

if wanted ingest; then
    section "durable ingest (bench_ingest)"
    if [ "$quick" = 1 ]; then
        bench "$build/bench/bench_ingest" --logstream "$ls" --dir "$dir" --lines 100000 --repeat 1
    else
        bench "$build/bench/bench_ingest" --logstream "$ls" --dir "$dir"
    fi
fi

if wanted worker; then
    section "worker overhead (bench_worker.py)"
    if [ "$quick" = 1 ]; then
        bench python3 "$repo/bench/bench_worker.py" --logstream "$ls" --emitter "$emit" --dir "$dir" \
            --lines 100000 --repeat 2
    else
        bench python3 "$repo/bench/bench_worker.py" --logstream "$ls" --emitter "$emit" --dir "$dir" \
            --hyperfine
    fi
fi

if wanted cluster; then
    # several instances on one durable throwaway PostgreSQL cluster with NATS
    section "cluster: cross-instance latency, ingest with 1-3 instances (bench_cluster.py)"
    if [ -x /usr/sbin/nats-server ] && command -v psql >/dev/null &&
        "$ls" server --help | grep -q -- '--nats'; then
        if [ "$quick" = 1 ]; then
            bench python3 "$repo/bench/bench_cluster.py" --logstream "$ls" --emitter "$emit" \
                --dir "$dir" --lines 200 --ingest-lines 60000
        else
            bench python3 "$repo/bench/bench_cluster.py" --logstream "$ls" --emitter "$emit" \
                --dir "$dir" --repeat 3
        fi
    else
        echo "skipped: needs nats-server, PostgreSQL (scripts/install-deps.sh) and a server with --nats"
    fi
fi

if wanted others; then
    # The other benchmarks (masker, plugin host, web UI) with their own defaults;
    # one that does not build is reported and skipped.
    for src in "$repo"/bench/bench_*.c; do
        name=$(basename "$src" .c)
        case $name in bench_store | bench_latency | bench_ingest) continue ;; esac
        section "$name"
        if ninja -C "$build" "$name" >/dev/null 2>&1; then
            "$build/bench/$name" || echo "$name exited $?"
        else
            echo "$name does not build at this commit; skipped"
        fi
    done
    section "bench_ui (web UI in headless Chromium)"
    if command -v node >/dev/null && [ -d "$repo/tests/browser/node_modules" ] &&
        [ -x /usr/bin/chromium ]; then
        bench node "$repo/bench/bench_ui.mjs" "$ls"
    else
        echo "skipped: needs node, /usr/bin/chromium and tests/browser's npm dependencies" \
            "(tests/browser/run.sh installs them)"
    fi
fi

section done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
