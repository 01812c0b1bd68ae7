#!/usr/bin/env bash
# bench/run.sh — issue 6's benchmark: billrun rate on a generated month of usage, against the gzip
# decompression floor and DuckDB on the same files, plus close end to end (SQLite, and PostgreSQL when a
# DSN is given), the export of the month it closed, and the RSS growth from 5M to 20M events.
#
#   bash bench/run.sh                    # 5M events, 50 objects, 5,000 accounts; 3 rounds
#   BENCH_EVENTS_BIG=20000000 bash bench/run.sh   # the growth run's size (default 20M; 0 skips it)
#   BENCH_REPEAT=5 BENCH_POSTGRES='postgres://…' bash bench/run.sh
#
# Environment: BENCH_EVENTS (5000000), BENCH_FILES (50), BENCH_ACCOUNTS (5000), BENCH_REPEAT (3),
# BENCH_EVENTS_BIG (20000000, 0 = skip), BENCH_DUCKDB (1; 0 = skip), BENCH_CLOSE (1; 0 = skip),
# BENCH_POSTGRES (a DSN whose database the bench may drop and recreate; else BILLRUN_TEST_POSTGRES's
# server is used with a database billrun_bench), BENCH_DUCKDB_DIR (/tmp/billrun-duckdb),
# BENCH_DUCKDB_VERSION (1.5.6-r.1: the @duckdb/node-api release installed there), BENCH_PAUSE
# (5: the idle seconds before the first run of rate and of DuckDB in each round).
# Data is generated once with fixtures/gen and cached under ./bench-data/ (git-ignored). Timings on a
# shared 2-core machine are noisy: the runs go in rounds (rate, floor, DuckDB, the closes, each once per
# round), so every figure samples the same minutes, and each is the best of BENCH_REPEAT runs, with the
# median shown.
#
# Every timed run follows a run of the same command (a warm-up, as hyperfine --warmup does), so that
# each starts from the same state of the machine: on a virtual machine that hands freed memory back to
# its host (free page reporting), a process started after an idle pause pays to fault its memory back
# in — billrun rate, ~280 MB, measured 0.3-0.5 s slower after a 6 s pause, DuckDB no slower — and
# without warm-ups the order of the round decided who paid. The warm-ups of rate and DuckDB come after
# BENCH_PAUSE idle seconds and are reported too: the after-a-pause figures, as a cron job would start.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

EVENTS=${BENCH_EVENTS:-5000000}
FILES=${BENCH_FILES:-50}
ACCOUNTS=${BENCH_ACCOUNTS:-5000}
REPEAT=${BENCH_REPEAT:-3}
EVENTS_BIG=${BENCH_EVENTS_BIG:-20000000}
DUCKDB=${BENCH_DUCKDB:-1}
CLOSE=${BENCH_CLOSE:-1}
DUCKDB_DIR=${BENCH_DUCKDB_DIR:-/tmp/billrun-duckdb}
PAUSE=${BENCH_PAUSE:-5}
PERIOD=2026-10
AT=2026-11-01T02:00:00Z
DATA=$ROOT/bench-data
BIN=$DATA/bin
WORK=$(mktemp -d /tmp/billrun-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$DATA" "$BIN"

if [ ! -x /usr/bin/time ]; then
	echo "installing GNU time (apt-get install time)" >&2
	apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi

echo "building billrun, fixtures/gen and bench/floor" >&2
go build -o "$BIN/billrun" ./cmd/billrun
go build -o "$BIN/gen" ./fixtures/gen
go build -o "$BIN/floor" ./bench/floor

# dataset EVENTS FILES: generates (once) the usage tree and the accounts file; prints the tree's path.
dataset() {
	local events=$1 files=$2 dir="$DATA/usage-$1-$2-$ACCOUNTS"
	if [ ! -f "$dir/.complete" ]; then
		echo "generating $events events in $files objects for $ACCOUNTS accounts under $dir" >&2
		"$BIN/gen" -events "$events" -files "$files" -accounts "$ACCOUNTS" -period "$PERIOD" \
			-accounts-out "$DATA/accounts-$ACCOUNTS.yaml" -out "$dir" >&2
		touch "$dir/.complete"
	fi
	echo "$dir"
}

# timed NAME CMD...: runs CMD under /usr/bin/time -v; appends "wall_s max_rss_kb cpu_s" to $WORK/NAME
# (cpu_s: user + system seconds).
timed() {
	local name=$1
	shift
	/usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
		echo "FAILED: $*" >&2
		tail -20 "$WORK/$name.err" >&2
		exit 1
	}
	local wall rss cpu
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time.txt")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
	cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ {s += $2} END {printf "%.2f", s}' "$WORK/time.txt")
	echo "$wall $rss $cpu" >>"$WORK/$name"
}

# best NAME / median NAME / rss NAME: the best and median wall time and the largest peak RSS (KB).
best() { sort -n "$WORK/$1" | head -1 | cut -d' ' -f1; }
median() { sort -n "$WORK/$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rss() { sort -k2 -n "$WORK/$1" | tail -1 | cut -d' ' -f2; }
# cpu NAME: user + system CPU seconds of NAME's best run, "user+sys" of it.
cpu() { sort -n "$WORK/$1" | head -1 | cut -d' ' -f3; }

# RATE: billrun rate as the bench runs it; --usage DIR follows.
RATE=("$BIN/billrun" rate --period "$PERIOD" --at "$AT" --prices fixtures/prices.yaml
	--accounts "$DATA/accounts-$ACCOUNTS.yaml" --db "sqlite:$WORK/unused.db" --progress never)

USAGE=$(dataset "$EVENTS" "$FILES")
COMPRESSED=$(du -sb --exclude=.complete "$USAGE" | cut -f1)

# The DuckDB release is pinned, so that runs on different days compare billrun with the same DuckDB.
DUCKDB_VERSION=${BENCH_DUCKDB_VERSION:-1.5.6-r.1}
duckdb_installed() { node -p "require('$DUCKDB_DIR/node_modules/@duckdb/node-api/package.json').version" 2>/dev/null || true; }
if [ "$DUCKDB" = 1 ] && [ "$(duckdb_installed)" != "$DUCKDB_VERSION" ]; then
	echo "installing @duckdb/node-api into $DUCKDB_DIR (outside the repository)" >&2
	mkdir -p "$DUCKDB_DIR"
	(cd "$DUCKDB_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --no-audit --no-fund "@duckdb/node-api@$DUCKDB_VERSION" >/dev/null)
fi

PG_DSN=${BENCH_POSTGRES:-}
if [ -z "$PG_DSN" ] && [ -n "${BILLRUN_TEST_POSTGRES:-}" ]; then
	PG_DSN=$(echo "$BILLRUN_TEST_POSTGRES" | sed -E 's#/[^/?]+(\?|$)#/billrun_bench\1#')
fi
[ "$CLOSE" = 1 ] || PG_DSN=""
pg_reset() { # drops and recreates the bench database of $PG_DSN
	local db admin
	db=$(echo "$PG_DSN" | sed -E 's#.*/([^/?]+)(\?.*)?$#\1#')
	admin=$(echo "$PG_DSN" | sed -E 's#/[^/?]+(\?|$)#/postgres\1#')
	psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
}
# pg_settle waits (up to 60 s) until the server has no autovacuum worker busy — a close leaves
# 300,000 fresh lines to analyze — and flushes its dirty buffers, so that the server's background work
# after one run is not timed in the next one.
pg_settle() {
	local admin busy
	admin=$(echo "$PG_DSN" | sed -E 's#/[^/?]+(\?|$)#/postgres\1#')
	for _ in $(seq 60); do
		busy=$(psql -qtA "$admin" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
		[ "$busy" = 0 ] && break
		sleep 1
	done
	psql -q "$admin" -c CHECKPOINT >/dev/null
}

# Each round runs every measurement once, so that all of them sample the same minutes: the VM's speed
# drifts by tens of percent within minutes, and measuring rate in one block and its comparisons in
# another made the ratios measure the drift. Each measurement is the second of two runs in a row (see
# the top); the first runs of rate and DuckDB follow an idle pause and are kept as *_cold. Rate runs
# again right before the closes (rate_near), and each round's close ratios are to that run. A close runs
# on a new database that holds billrun's schema, as a monthly close finds it (`billrun migrate`, not
# timed), and imports the 5,000 accounts itself; a PostgreSQL one on a settled server, settled again
# after it, so that its background work lands on nothing timed.
close_sqlite() { # close_sqlite NAME: a close on a new SQLite database, timed as NAME
	rm -rf "$WORK/close.db"* "$WORK/out"
	"$BIN/billrun" migrate --db "sqlite:$WORK/close.db" >/dev/null
	timed "$1" "$BIN/billrun" close --period "$PERIOD" --at "$AT" --usage "$USAGE" --prices fixtures/prices.yaml \
		--accounts "$DATA/accounts-$ACCOUNTS.yaml" --db "sqlite:$WORK/close.db" --out "$WORK/out" --progress never
}
close_pg() { # close_pg NAME: a close on a new PostgreSQL database, timed as NAME
	rm -rf "$WORK/out"
	pg_reset
	"$BIN/billrun" migrate --db "$PG_DSN" >/dev/null
	pg_settle
	timed "$1" "$BIN/billrun" close --period "$PERIOD" --at "$AT" --usage "$USAGE" --prices fixtures/prices.yaml \
		--accounts "$DATA/accounts-$ACCOUNTS.yaml" --db "$PG_DSN" --out "$WORK/out" --progress never
	pg_settle
}
for i in $(seq "$REPEAT"); do
	echo "round $i/$REPEAT: billrun rate (after ${PAUSE}s idle, then again)" >&2
	sleep "$PAUSE"
	timed rate_cold "${RATE[@]}" --usage "$USAGE"
	timed rate "${RATE[@]}" --usage "$USAGE"
	echo "round $i/$REPEAT: decompression floor" >&2
	timed floor_warmup "$BIN/floor" -parallel 2 "$USAGE"
	timed floor "$BIN/floor" -parallel 2 "$USAGE"
	if [ "$DUCKDB" = 1 ]; then
		echo "round $i/$REPEAT: DuckDB (after ${PAUSE}s idle, then again)" >&2
		sleep "$PAUSE"
		NODE_PATH="$DUCKDB_DIR/node_modules" timed duckdb_cold node bench/duckdb.cjs "$USAGE" 2
		NODE_PATH="$DUCKDB_DIR/node_modules" timed duckdb node bench/duckdb.cjs "$USAGE" 2
	fi
	if [ "$CLOSE" = 1 ]; then
		# rate again, right before the closes: each round's close ratios compare runs a few seconds
		# apart, not the round's first rate, a minute or more earlier (the VM drifts within minutes).
		echo "round $i/$REPEAT: billrun rate again, before the closes (twice)" >&2
		timed rate_near_warmup "${RATE[@]}" --usage "$USAGE"
		timed rate_near "${RATE[@]}" --usage "$USAGE"
		echo "round $i/$REPEAT: billrun close on SQLite (twice)" >&2
		close_sqlite close_sqlite_warmup
		close_sqlite close_sqlite
	fi
	if [ -n "$PG_DSN" ]; then
		echo "round $i/$REPEAT: billrun close on PostgreSQL (twice)" >&2
		close_pg close_pg_warmup
		close_pg close_pg
	fi
done
if [ "$CLOSE" = 1 ]; then
	# billrun export of the month the last SQLite close wrote, in each format, and of a month without
	# documents (the baseline: the binary, the accounts, payments and standing): the export streams the
	# period's lines from the database, so its memory is the baseline's plus one batch of lines, not
	# the month's lines.
	echo "billrun export of the closed month, and of an empty one (twice each)" >&2
	EXPORT=("$BIN/billrun" export --at "$AT" --db "sqlite:$WORK/close.db")
	for f in xlsx json csv; do
		timed "export_${f}_warmup" "${EXPORT[@]}" --period "$PERIOD" --format "$f" --out "$WORK/export.$f"
		timed "export_$f" "${EXPORT[@]}" --period "$PERIOD" --format "$f" --out "$WORK/export.$f"
	done
	timed export_empty_warmup "${EXPORT[@]}" --period 2026-09 --format xlsx --out "$WORK/empty.xlsx"
	timed export_empty "${EXPORT[@]}" --period 2026-09 --format xlsx --out "$WORK/empty.xlsx"
	# One CSV row per line (every document has lines), after the header.
	EXPORT_LINES=$(($(wc -l <"$WORK/export.csv") - 1))
fi
RAW=$(awk '/^raw_bytes/ {print $2}' "$WORK/floor.out")
LINES=$(awk '/^lines/ {print $2}' "$WORK/floor.out")
grep -q "^usage: .* $LINES lines" "$WORK/rate.out" || { echo "billrun rate did not read $LINES lines:" >&2; tail -3 "$WORK/rate.out" >&2; exit 1; }

if [ "$EVENTS_BIG" != 0 ]; then
	BIG=$(dataset "$EVENTS_BIG" $((FILES * EVENTS_BIG / EVENTS)))
	for i in $(seq "$(( REPEAT < 2 ? REPEAT : 2 ))"); do
		echo "run $i: billrun rate on $EVENTS_BIG events" >&2
		timed rate_big "${RATE[@]}" --usage "$BIG"
	done
fi

# The table.
R=$(best rate)
F=$(best floor)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
row() { # row TEXT NAME [duckdb_best: what "× DuckDB" compares with; default $D]
	local b eps vs_duck="-" d=${3:-${D:-}}
	b=$(best "$2")
	eps=$(awk -v n="$LINES" -v s="$b" 'BEGIN {printf "%.2f M", n / s / 1e6}')
	[ -n "$d" ] && vs_duck=$(ratio "$b" "$d")
	printf "| %s | %s | %s | %s | %s | %s MB | %s | %s |\n" "$1" "$b" "$(median "$2")" "$(cpu "$2")" "$eps" \
		"$(awk -v k="$(rss "$2")" 'BEGIN {printf "%.0f", k / 1024}')" "$vs_duck" "$(ratio "$b" "$F")"
}
D=""
[ "$DUCKDB" = 1 ] && D=$(best duckdb)
echo
echo "billrun bench: $LINES events, $FILES objects, $ACCOUNTS accounts; $(awk -v b="$COMPRESSED" 'BEGIN {printf "%.1f", b/1e6}') MB gzip," \
	"$(awk -v b="$RAW" 'BEGIN {printf "%.1f", b/1e6}') MB JSON; best of $REPEAT runs (median shown), $(nproc) CPUs"
# The machine, as the figures depend on it: the CPU model and the kernel (its page-fault costs moved
# DuckDB's system time by seconds between VMs of the same size).
echo "machine: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r), $(go env GOVERSION)"
echo
echo "| method | wall s (best) | median | CPU s (best run) | events/s | peak RSS | × DuckDB | × floor |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row "billrun rate (read, validate, dedup, rate, price)" rate
[ -n "$D" ] && row "DuckDB $DUCKDB_VERSION read_ndjson + DISTINCT ON (id) + GROUP BY, 2 threads" duckdb
row "gzip decompression alone, klauspost, 2 in parallel (floor)" floor
if [ -n "$D" ]; then
	DC=$(best duckdb_cold)
	row "billrun rate, first run after ${PAUSE}s idle" rate_cold "$DC"
	row "DuckDB, first run after ${PAUSE}s idle" duckdb_cold "$DC"
fi
echo
echo "billrun rate: $(awk -v c="$COMPRESSED" -v s="$R" 'BEGIN {printf "%.1f", c / s / 1e6}') MB/s compressed," \
	"$(awk -v c="$RAW" -v s="$R" 'BEGIN {printf "%.1f", c / s / 1e6}') MB/s uncompressed; peak RSS $(( $(rss rate) / 1024 )) MB"
if [ "$CLOSE" = 1 ]; then
	# The closes' ratios are to the best rate of all the rounds' rate runs, those right before the
	# closes included.
	RC=$(cat "$WORK/rate" "$WORK/rate_near" | sort -n | head -1 | cut -d' ' -f1)
	echo "close on SQLite (import $ACCOUNTS accounts, read, issue, sweep, exports): best $(best close_sqlite) s (CPU $(cpu close_sqlite) s)," \
		"median $(median close_sqlite) s, peak RSS $(( $(rss close_sqlite) / 1024 )) MB: $(ratio "$(best close_sqlite)" "$RC") × rate ($RC s)"
	mb() { awk -v k="$(rss "$1")" 'BEGIN {printf "%.0f", k / 1024}'; }
	echo "export of the closed month ($EXPORT_LINES lines), SQLite: xlsx $(best export_xlsx) s, $(mb export_xlsx) MB;" \
		"json $(best export_json) s, $(mb export_json) MB; csv $(best export_csv) s, $(mb export_csv) MB;" \
		"a month without documents, xlsx: $(best export_empty) s, $(mb export_empty) MB"
	if [ -n "$PG_DSN" ]; then
		echo "close on PostgreSQL: best $(best close_pg) s (billrun's CPU $(cpu close_pg) s), median $(median close_pg) s, peak RSS $(( $(rss close_pg) / 1024 )) MB:" \
			"$(ratio "$(best close_pg)" "$RC") × rate ($RC s)"
	else
		echo "close on PostgreSQL: skipped (set BENCH_POSTGRES or BILLRUN_TEST_POSTGRES)"
	fi
fi
# rounds A B: A's time over B's in each round, then their median — a ratio measured in the same
# minutes, less at the mercy of which round drew the best time of each.
rounds() {
	local list
	list=$(paste -d' ' <(cut -d' ' -f1 "$WORK/$1") <(cut -d' ' -f1 "$WORK/$2") | awk '{printf "%.2f\n", $1 / $2}')
	printf "%s (rounds: %s)" "$(echo "$list" | sort -n |
		awk '{a[NR] = $1} END {printf "%.2f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')" "$(echo $list)"
}
echo
echo "per-round ratios, median: DuckDB / rate $( [ -n "$D" ] && rounds duckdb rate || echo -)," \
	"after ${PAUSE}s idle $( [ -n "$D" ] && rounds duckdb_cold rate_cold || echo -)," \
	"rate / floor $(rounds rate floor)$( [ "$CLOSE" = 1 ] && echo ", close SQLite / the rate run before it $(rounds close_sqlite rate_near)")$( [ -n "$PG_DSN" ] && echo ", close PostgreSQL / the rate run before the closes $(rounds close_pg rate_near)")"
if [ "$EVENTS_BIG" != 0 ]; then
	SMALL_RSS=$(rss rate)
	BIG_RSS=$(rss rate_big)
	echo "rate on $EVENTS_BIG events: best $(best rate_big) s, peak RSS $(( BIG_RSS / 1024 )) MB; growth from $EVENTS:" \
		"$(awk -v a="$BIG_RSS" -v b="$SMALL_RSS" -v n="$((EVENTS_BIG - EVENTS))" 'BEGIN {printf "%.1f", (a - b) * 1024 / n}') bytes/event"
fi
