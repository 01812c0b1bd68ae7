#!/usr/bin/env bash
# Acceptance checks of billrun's RATING and INVOICE ARITHMETIC against DESIGN.md §3–§6 and §11.
# Every expected value is worked out by hand in the comment next to it (DESIGN §5: amount = quantity ×
# unit price ÷ unit size, rounded once per line to cents, half away from zero; totals are sums of lines).
# Needs go and python3 (standard library only). Prints PASS/FAIL per check; exits 1 on any failure.
#
#   bash acceptance/rating_check.sh           (scratch directory: $ACC_WORK, default /tmp/accr/run)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
W=${ACC_WORK:-/tmp/accr/run}
BIN=$W/billrun
rm -rf "$W"; mkdir -p "$W"; : > "$W/results"
(cd "$REPO" && go build -o "$BIN" ./cmd/billrun) || { echo "build failed"; exit 1; }

AT=2026-11-01T02:00:00Z
D=
scen() { D=$W/$1; mkdir -p "$D/usage"; cd "$D" || exit 1; }
put() { mkdir -p "$(dirname "$D/$1")"; cat > "$D/$1"; }             # put PATH <<'EOF' … EOF
putgz() { mkdir -p "$(dirname "$D/$1")"; gzip -n -c > "$D/$1"; }     # the same, gzip-compressed
# rate PERIOD [flags…] → rate.json, rate.rc (accounts from accounts.yaml; nothing written)
rate() { local p=$1; shift
  "$BIN" rate --period "$p" --at "${RAT:-$AT}" --usage "$D/usage" --prices "$D/prices.yaml" --accounts "$D/accounts.yaml" \
    --db "sqlite:$D/rate-unused.db" --format json --log-format json "$@" >"$D/rate.json" 2>"$D/rate.err"; echo $? >"$D/rate.rc"; }
# close PERIOD [flags…] → out/P/…, close.rc (a fresh SQLite database per scenario)
close() { local p=$1; shift
  "$BIN" close --period "$p" --at "${RAT:-$AT}" --usage "$D/usage" --prices "$D/prices.yaml" --accounts "$D/accounts.yaml" \
    --db "sqlite:$D/ledger.db" --out "$D/out" --log-format json "$@" >"$D/close.out" 2>"$D/close.err"; echo $? >"$D/close.rc"; }
expect() { python3 "$HERE/rating_check.py" expect "$D"; }
# size of the objects under usage/ whose dt is in [from, to]
bytes_in() { python3 - "$D/usage" "$1" "$2" <<'PY'
import os, sys
root, lo, hi = sys.argv[1:]
n = 0
for d in os.listdir(root):
    if d.startswith('dt=') and lo <= d[3:] <= hi:
        for f in os.listdir(os.path.join(root, d)):
            n += os.path.getsize(os.path.join(root, d, f))
print(n)
PY
}

# ------------------------------------------------------------------------------------------------------
# Price book A: one version from 2026-01-01. Serverless prices are chosen so that input ≠ output and the
# batch multiplier (0.4) differs from the cached multiplier (0.5), so a swapped rule shows.
price_book_a() { put prices.yaml <<'EOF'
currency: USD
versions:
  - effective_from: 2026-01-01T00:00:00Z
    serverless:
      default_cached_input_multiplier: "0.5"
      batch_multiplier: "0.4"
      buckets:
        - {name: "Up to 4B",       max_params_b: 4,   input: "0.10", output: "0.30"}
        - {name: "4B - 16B",       max_params_b: 16,  input: "0.20", output: "0.60"}
        - {name: "MoE up to 56B",  moe: true, max_params_b: 56,  input: "0.50", output: "1.50"}
        - {name: "MoE 56B - 176B", moe: true, max_params_b: 176, input: "1.20", output: "3.60"}
        - {name: "Over 16B",                                     input: "0.90", output: "2.70"}
      models:
        m/moe-big: {input: "0.90", cached_input: "0.45", output: "1.80"}
        m/explicit-nocache: {input: "2.00", output: "4.00"}
        m/ft-own: {input: "7.00", cached_input: "7.00", output: "7.00"}
        m/odd: {input: "0.333", output: "0.777"}
    gpu_hour:
      A100-80GB: "2.90"
      H100-80GB: "4.00"
      T4-16GB: "2.905"
    gpu_volume_discounts:
      - {min_gpu_hours: 10, percent: "5"}
      - {min_gpu_hours: 20, percent: "10"}
    fine_tuning:
      buckets:
        - {max_params_b: 16,  price: "0.50"}
        - {max_params_b: 80,  price: "3.00"}
        - {max_params_b: 300, price: "6.00"}
        - {price: "10.00"}
      method_multipliers: {lora_sft: "1", lora_dpo: "2", full_sft: "2", full_dpo: "4"}
models:
  m/tiny: {params_b: 4}
  m/dec: {params_b: 4.5}
  m/mid: {params_b: 16}
  m/dense70: {params_b: 70}
  m/moe56: {params_b: 56, moe: true}
  m/moe100: {params_b: 100, moe: true}
  m/moe-huge: {params_b: 671, moe: true}
  m/moe-big: {params_b: 671, moe: true}
  m/explicit-nocache: {params_b: 8}
  m/ft-own: {params_b: 3}
  m/ft80: {params_b: 80}
  m/ft300: {params_b: 300.5}
  m/odd: {params_b: 2}
policy:
  payment_terms_days: 15
  tiers:
    - {tier: 1, min_historical_spend: "0",     spend_limit: "50"}
    - {tier: 2, min_historical_spend: "100",   spend_limit: "500"}
    - {tier: 3, min_historical_spend: "1000",  spend_limit: "5000"}
    - {tier: 4, min_historical_spend: "10000", spend_limit: "50000"}
EOF
}

# ====================================================================================================== S0
# The worked examples agree with this reading: rate of their first close (values from their scenario.yaml).
EX=${ACC_EXAMPLES:-/work/shared/examples}
if [ -d "$EX/01_rounding" ]; then
scen s0_example01; cp -r "$EX/01_rounding/." .
rate 2026-10
expect <<'EOF'
rc 0
inv acct_r1 subtotal=0.06 amount_due=0.06       # 0.01 + 0.01 + 0.01 + 0.03 (per-line rounding)
inv acct_r2 subtotal=0.03                       # 0.00 + 0.00 + 0.02 + 0.01
inv acct_r3 subtotal=0.18 discount=0.00         # 0.15 + 0.01 + 0.01 + 0.01
line acct_r3 kind=gpu product=A100-80GB meter=gpu_seconds qty=180 price=2.90 amount=0.15
line acct_r3 kind=serverless product=accounts/fireworks/models/llama-v3p1-8b-instruct meter=batch_cached_input_tokens qty=100000 price=0.05 amount=0.01
EOF
scen s0_example04; cp -r "$EX/04_gpu_month_boundary/." .
rate 2026-10
expect <<'EOF'
rc 0
line acct_g1 kind=gpu product=H100-80GB deployment=dep-a meter=gpu_seconds qty=10800 price=8.00 amount=24.00   # 7200 + 3600
line acct_g1 kind=gpu product=A100-80GB deployment=dep-b meter=gpu_seconds qty=3600 price=2.90 amount=2.90
inv acct_g1 subtotal=26.90
inv acct_g2 subtotal=5.80                       # 4 × 1800 × 2.90 / 3600
EOF
fi

# ====================================================================================================== S1
# Serverless: buckets (inclusive max_params_b, MoE rows only for MoE, decimals in params_b), explicit model
# prices, uncached = input − cached, cached price = cached_input or input × 0.5, batch meters × 0.4,
# fine-tuned models priced as their base (whatever their own entries), absent token fields = 0, quantity-0
# lines omitted, a positive quantity rounding to 0.00 kept, per-line rounding half away from zero,
# UTC offsets, and the day-after partition (serverless lines there belong to November: ignored).
scen s1_serverless; price_book_a
put accounts.yaml <<'EOF'
accounts:
  - {id: acct_s1, name: Serverless One, email: s1@t.test, payment_method: true}
EOF
put usage/dt=2026-10-05/a.jsonl <<'EOF'
{"id":"e1","ts":"2026-10-05T10:00:00Z","account":"acct_s1","type":"serverless","model":"m/tiny","input_tokens":1000000,"cached_input_tokens":400000,"output_tokens":500000}
{"id":"e2","ts":"2026-10-05T10:01:00Z","account":"acct_s1","type":"serverless","model":"m/tiny","input_tokens":1000000,"cached_input_tokens":1000000,"output_tokens":0,"batch":true}
{"id":"e3","ts":"2026-10-05T10:02:00Z","account":"acct_s1","type":"serverless","model":"m/dec","input_tokens":12345}
{"id":"e4","ts":"2026-10-05T10:03:00Z","account":"acct_s1","type":"serverless","model":"m/mid","input_tokens":2500000,"output_tokens":1000001,"batch":false}

{"id":"e5","ts":"2026-10-05T10:04:00Z","account":"acct_s1","type":"serverless","model":"m/dense70","input_tokens":1000000,"cached_input_tokens":250000,"output_tokens":100000}
   
{"id":"e6","ts":"2026-10-05T10:05:00Z","account":"acct_s1","type":"serverless","model":"m/moe56","input_tokens":3000000,"output_tokens":1000000}
EOF
put usage/dt=2026-10-20/b.jsonl <<'EOF'
{"id":"e7","ts":"2026-10-20T00:00:00Z","account":"acct_s1","type":"serverless","model":"m/moe100","input_tokens":1000000,"output_tokens":0}
{"id":"e8","ts":"2026-10-20T00:01:00Z","account":"acct_s1","type":"serverless","model":"m/moe-big","input_tokens":2000000,"cached_input_tokens":1000000,"output_tokens":1000000}
{"id":"e9","ts":"2026-10-20T00:02:00Z","account":"acct_s1","type":"serverless","model":"m/moe-big","input_tokens":1000000,"cached_input_tokens":1000000,"output_tokens":1000000,"batch":true}
{"id":"e10","ts":"2026-10-20T00:03:00Z","account":"acct_s1","type":"serverless","model":"m/explicit-nocache","input_tokens":1000000,"cached_input_tokens":500000}
{"id":"e11","ts":"2026-10-20T00:04:00Z","account":"acct_s1","type":"serverless","model":"acct_s1/ft-a","base_model":"m/tiny","input_tokens":1000000,"output_tokens":1000000,"batch":true}
{"id":"e12","ts":"2026-10-20T00:05:00Z","account":"acct_s1","type":"serverless","model":"m/ft-own","base_model":"m/mid","input_tokens":2000000,"cached_input_tokens":1000000,"output_tokens":1000000}
{"id":"e13","ts":"2026-10-20T00:06:00Z","account":"acct_s1","type":"serverless","model":"m/tiny"}
EOF
printf '%s\n' '{"id":"e15","ts":"2026-10-21T09:00:00.123456+00:00","account":"acct_s1","type":"serverless","model":"m/tiny","input_tokens":50000}' | putgz usage/dt=2026-10-21/c.jsonl.gz
put usage/dt=2026-10-31/d.jsonl <<'EOF'
{"id":"e16","ts":"2026-11-01T00:30:00+01:00","account":"acct_s1","type":"serverless","model":"m/moe100","output_tokens":1000000}
EOF
# the day after the period: serverless lines there are November's — not validated, counted or rejected
put usage/dt=2026-11-01/e.jsonl <<'EOF'
{"id":"e17","ts":"2026-11-01T00:10:00Z","account":"acct_s1","type":"serverless","model":"m/tiny","input_tokens":9999999}
{"id":"e18","ts":"2026-11-01T00:11:00Z","account":"acct_nobody","type":"serverless","model":"m/nope","input_tokens":1}
this line is not JSON but belongs to November
EOF
put usage/README.md <<'EOF'
not usage: outside any dt= partition, ignored
EOF
put usage/dt=2026-10-05/README.txt <<'EOF'
hmm
EOF
rm usage/dt=2026-10-05/README.txt
rate 2026-10
S1_BYTES=$(bytes_in 2026-10-01 2026-11-01)
expect <<EOF
rc 0
ninv 1
# m/tiny (4B, inclusive → "Up to 4B": in 0.10, out 0.30; cached 0.10 × 0.5 = 0.05; batch cached 0.05 × 0.4 = 0.02)
line acct_s1 kind=serverless product=m/tiny meter=input_tokens price=0.10 qty=650000 amount=0.07      # (1,000,000−400,000) + 50,000 (e15) = 650,000 × 0.10 / 1M = 0.065 → 0.07 (half away from zero)
line acct_s1 kind=serverless product=m/tiny meter=cached_input_tokens price=0.05 qty=400000 amount=0.02 # 400,000 × 0.05 / 1M = 0.02
line acct_s1 kind=serverless product=m/tiny meter=output_tokens price=0.30 qty=500000 amount=0.15    # 500,000 × 0.30 / 1M = 0.15
line acct_s1 kind=serverless product=m/tiny meter=batch_cached_input_tokens price=0.02 qty=1000000 amount=0.02  # e2: 1,000,000 × 0.02 / 1M = 0.02
noline acct_s1 kind=serverless product=m/tiny meter=batch_input_tokens     # e2: 1,000,000 − 1,000,000 cached = 0 → omitted
noline acct_s1 kind=serverless product=m/tiny meter=batch_output_tokens    # e2: output 0 → omitted
# m/dec (4.5B → "4B - 16B": 0.20): e3 only input, cached/output absent = 0
line acct_s1 kind=serverless product=m/dec meter=input_tokens price=0.20 qty=12345 amount=0.00      # 12,345 × 0.20 / 1M = 0.002469 → 0.00, kept (positive quantity)
noline acct_s1 kind=serverless product=m/dec meter=output_tokens                                   # absent → 0 → omitted
noline acct_s1 kind=serverless product=m/dec meter=cached_input_tokens
# m/mid (16B, inclusive → "4B - 16B": 0.20 / 0.60)
line acct_s1 kind=serverless product=m/mid meter=input_tokens price=0.20 qty=2500000 amount=0.50    # 2,500,000 × 0.20 / 1M = 0.50
line acct_s1 kind=serverless product=m/mid meter=output_tokens price=0.60 qty=1000001 amount=0.60   # 1,000,001 × 0.60 / 1M = 0.6000006 → 0.60
# m/dense70 (dense 70B: MoE rows skipped → "Over 16B": 0.90 / 2.70; cached 0.45)
line acct_s1 kind=serverless product=m/dense70 meter=input_tokens price=0.90 qty=750000 amount=0.68 # 750,000 × 0.90 / 1M = 0.675 → 0.68
line acct_s1 kind=serverless product=m/dense70 meter=cached_input_tokens price=0.45 qty=250000 amount=0.11 # 250,000 × 0.45 / 1M = 0.1125 → 0.11
line acct_s1 kind=serverless product=m/dense70 meter=output_tokens price=2.70 qty=100000 amount=0.27 # 100,000 × 2.70 / 1M = 0.27
# m/moe56 (MoE 56B, inclusive → "MoE up to 56B": 0.50 / 1.50)
line acct_s1 kind=serverless product=m/moe56 meter=input_tokens price=0.50 qty=3000000 amount=1.50  # 3 × 0.50
line acct_s1 kind=serverless product=m/moe56 meter=output_tokens price=1.50 qty=1000000 amount=1.50 # 1 × 1.50
# m/moe100 (MoE 100B → "MoE 56B - 176B": 1.20 / 3.60); e16's ts 00:30+01:00 = Oct 31 23:30Z → October
line acct_s1 kind=serverless product=m/moe100 meter=input_tokens price=1.20 qty=1000000 amount=1.20 # 1 × 1.20
line acct_s1 kind=serverless product=m/moe100 meter=output_tokens price=3.60 qty=1000000 amount=3.60 # e16: 1 × 3.60
# m/moe-big: explicit 0.90 / cached 0.45 / 1.80; batch × 0.4: 0.36 / 0.18 / 0.72
line acct_s1 kind=serverless product=m/moe-big meter=input_tokens price=0.90 qty=1000000 amount=0.90        # 2M − 1M cached
line acct_s1 kind=serverless product=m/moe-big meter=cached_input_tokens price=0.45 qty=1000000 amount=0.45
line acct_s1 kind=serverless product=m/moe-big meter=output_tokens price=1.80 qty=1000000 amount=1.80
line acct_s1 kind=serverless product=m/moe-big meter=batch_cached_input_tokens price=0.18 qty=1000000 amount=0.18 # 0.45 × 0.4
line acct_s1 kind=serverless product=m/moe-big meter=batch_output_tokens price=0.72 qty=1000000 amount=0.72       # 1.80 × 0.4
noline acct_s1 kind=serverless product=m/moe-big meter=batch_input_tokens                                        # 1M − 1M = 0
# m/explicit-nocache: explicit input 2.00, no cached_input → 2.00 × 0.5 = 1.00
line acct_s1 kind=serverless product=m/explicit-nocache meter=input_tokens price=2.00 qty=500000 amount=1.00
line acct_s1 kind=serverless product=m/explicit-nocache meter=cached_input_tokens price=1.00 qty=500000 amount=0.50
# acct_s1/ft-a: not in the catalog, base_model m/tiny → 0.10 / 0.30, batch × 0.4 → 0.04 / 0.12
line acct_s1 kind=serverless product=acct_s1/ft-a meter=batch_input_tokens price=0.04 qty=1000000 amount=0.04 desc~=m/tiny
line acct_s1 kind=serverless product=acct_s1/ft-a meter=batch_output_tokens price=0.12 qty=1000000 amount=0.12
# m/ft-own has its own entries (7.00, params 3B) but base_model m/mid → priced as m/mid: 0.20 / cached 0.10 / 0.60
line acct_s1 kind=serverless product=m/ft-own meter=input_tokens price=0.20 qty=1000000 amount=0.20 desc~=m/mid
line acct_s1 kind=serverless product=m/ft-own meter=cached_input_tokens price=0.10 qty=1000000 amount=0.10
line acct_s1 kind=serverless product=m/ft-own meter=output_tokens price=0.60 qty=1000000 amount=0.60
nlines acct_s1 26
# subtotal = 0.07+0.02+0.15+0.02 (0.26) + 0.00 + 0.50+0.60 (1.36) + 0.68+0.11+0.27 (2.42) + 1.50+1.50 (5.42)
#          + 1.20+3.60 (10.22) + 0.90+0.45+1.80+0.18+0.72 (14.27) + 1.00+0.50 (15.77) + 0.04+0.12 (15.93)
#          + 0.20+0.10+0.60 (16.83)
inv acct_s1 subtotal=16.83 discount=0.00 credits_applied=0.00 amount_due=16.83
tieout
# counts: objects read = a, b, c.gz, d (October) + e (dt=P.end, read for GPU) = 5; README.md is not usage
count objects=5 bytes=$S1_BYTES
# events taken: e1–e13, e15, e16 = 15 (November's e17, e18 and the bad line are not taken)
count events_taken=15 duplicates=0 rejected=0
count rejects_by_code.invalid_json=- rejects_by_code.unknown_account=-
# meter totals over the lines: input 650,000+12,345+2,500,000+750,000+3,000,000+1,000,000+1,000,000+500,000+1,000,000 = 10,412,345
count meters.input_tokens=10412345
# cached 400,000+250,000+1,000,000+500,000+1,000,000 = 3,150,000 ; output 500,000+1,000,001+100,000+1,000,000+1,000,000+1,000,000+1,000,000 = 5,600,001
count meters.cached_input_tokens=3150000 meters.output_tokens=5600001
# batch: input 1,000,000 (ft-a) ; cached 1,000,000 (e2) + 1,000,000 (e9) ; output 1,000,000 (e9) + 1,000,000 (ft-a)
count meters.batch_input_tokens=1000000 meters.batch_cached_input_tokens=2000000 meters.batch_output_tokens=2000000
EOF

# ====================================================================================================== S2
# GPU: one line per (deployment, GPU type, unit price), GPU-seconds exact with fractions, gpu_count ×,
# UTC offsets, intervals clipped at the period's edges, the dt=P.start / dt=P.end partition rules, dedup
# only over taken events; bulk on-demand discount = max(contract in effect at period start, volume tier),
# −round(percent/100 × sum of ROUNDED GPU line amounts), never on serverless.
# Price book A: H100 4.00, A100 2.90 per GPU-hour; tiers ≥10 GPU-h 5 %, ≥20 GPU-h 10 %.
scen s2_gpu; price_book_a
put accounts.yaml <<'EOF'
accounts:
  - id: acct_g1
    name: G One
    email: g1@t.test
    payment_method: true
    contracts:
      - {on_demand_discount_percent: "15", from: 2026-10-01, to: 2026-11-01}
  - id: acct_g2
    name: G Two
    email: g2@t.test
    payment_method: true
    contracts:
      - {on_demand_discount_percent: "50", from: 2026-01-01, to: 2026-10-01}
      - {on_demand_discount_percent: "30", from: 2026-11-01, to: 2027-01-01}
  - id: acct_g3
    name: G Three
    email: g3@t.test
    payment_method: true
    contracts:
      - {on_demand_discount_percent: "5", from: 2026-10-01, to: 2027-01-01}
  - id: acct_g4
    name: G Four
    email: g4@t.test
    payment_method: true
    contracts:
      - {on_demand_discount_percent: "15", from: 2026-01-01, to: 2027-01-01}
  - id: acct_g5
    name: G Five
    email: g5@t.test
    payment_method: true
    contracts:
      - {on_demand_discount_percent: "12.5", from: 2026-10-01, to: 2026-11-01}
  - id: acct_g6
    name: G Six
    email: g6@t.test
    payment_method: true
    contracts:
      - {on_demand_discount_percent: "25", from: 2026-10-01, to: 2026-11-01}
EOF
put usage/dt=2026-10-01/gpu.jsonl <<'EOF'
{"id":"g5","ts":"2026-10-01T00:20:00Z","account":"acct_g1","type":"gpu","deployment":"dep-c","gpu_type":"A100-80GB","gpu_count":2,"start":"2026-09-30T23:40:00Z","end":"2026-10-01T00:20:00Z"}
{"id":"g7","ts":"2026-10-01T00:00:00Z","account":"acct_nobody","type":"gpu","deployment":"dep-c","gpu_type":"A100-80GB","gpu_count":2,"start":"2026-09-30T23:30:00Z","end":"2026-10-01T00:00:00Z"}
EOF
put usage/dt=2026-10-10/gpu.jsonl <<'EOF'
{"id":"g1","ts":"2026-10-10T00:30:00.5Z","account":"acct_g1","type":"gpu","deployment":"dep-a","gpu_type":"H100-80GB","gpu_count":2,"start":"2026-10-10T00:00:00Z","end":"2026-10-10T00:30:00.5Z"}
{"id":"g2","ts":"2026-10-10T01:00:10Z","account":"acct_g1","type":"gpu","deployment":"dep-a","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-10T01:00:00.25Z","end":"2026-10-10T01:00:10Z"}
EOF
put usage/dt=2026-10-11/gpu.jsonl <<'EOF'
{"id":"g3","ts":"2026-10-11T10:20:00Z","account":"acct_g1","type":"gpu","deployment":"dep-b","gpu_type":"H100-80GB","gpu_count":3,"start":"2026-10-11T10:00:00Z","end":"2026-10-11T10:20:00Z"}
{"id":"g4","ts":"2026-10-11T22:30:00Z","account":"acct_g1","type":"gpu","deployment":"dep-a","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-12T00:00:00+02:00","end":"2026-10-12T00:30:00+02:00"}
EOF
put usage/dt=2026-10-20/gpu.jsonl <<'EOF'
{"id":"g-dup","ts":"2026-10-20T10:10:00Z","account":"acct_g1","type":"gpu","deployment":"dep-d","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-20T10:00:00Z","end":"2026-10-20T10:10:00Z"}
{"id":"g-s1","ts":"2026-10-20T11:00:00Z","account":"acct_g1","type":"serverless","model":"m/mid","input_tokens":1000000}
{"id":"g-s4","ts":"2026-10-20T11:00:00Z","account":"acct_g4","type":"serverless","model":"m/mid","input_tokens":1000000}
EOF
put usage/dt=2026-10-03/gpu.jsonl <<'EOF'
{"id":"x1","ts":"2026-10-03T01:00:00Z","account":"acct_g2","type":"gpu","deployment":"dep-x","gpu_type":"H100-80GB","gpu_count":8,"start":"2026-10-03T00:00:00Z","end":"2026-10-03T01:00:00Z"}
{"id":"x2","ts":"2026-10-03T02:00:00Z","account":"acct_g2","type":"gpu","deployment":"dep-x","gpu_type":"H100-80GB","gpu_count":8,"start":"2026-10-03T01:00:00Z","end":"2026-10-03T02:00:00Z"}
{"id":"y1","ts":"2026-10-03T01:00:00Z","account":"acct_g3","type":"gpu","deployment":"dep-y","gpu_type":"H100-80GB","gpu_count":10,"start":"2026-10-03T00:00:00Z","end":"2026-10-03T01:00:00Z"}
{"id":"y2","ts":"2026-10-03T02:00:00Z","account":"acct_g3","type":"gpu","deployment":"dep-y","gpu_type":"H100-80GB","gpu_count":10,"start":"2026-10-03T01:00:00Z","end":"2026-10-03T02:00:00Z"}
EOF
put usage/dt=2026-10-04/gpu.jsonl <<'EOF'
{"id":"p1","ts":"2026-10-04T01:00:00Z","account":"acct_g5","type":"gpu","deployment":"dep-1","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-04T00:00:00Z","end":"2026-10-04T01:00:00Z"}
{"id":"p2","ts":"2026-10-04T02:00:00Z","account":"acct_g5","type":"gpu","deployment":"dep-1","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-04T01:00:00Z","end":"2026-10-04T02:00:00Z"}
{"id":"p3","ts":"2026-10-04T02:33:00Z","account":"acct_g5","type":"gpu","deployment":"dep-1","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-04T02:00:00Z","end":"2026-10-04T02:33:00Z"}
EOF
put usage/dt=2026-10-05/gpu.jsonl <<'EOF'
{"id":"q1","ts":"2026-10-05T00:00:04.5Z","account":"acct_g6","type":"gpu","deployment":"dep-p","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-05T00:00:00Z","end":"2026-10-05T00:00:04.5Z"}
{"id":"q2","ts":"2026-10-05T00:00:04.5Z","account":"acct_g6","type":"gpu","deployment":"dep-q","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-05T00:00:00Z","end":"2026-10-05T00:00:04.500Z"}
EOF
put usage/dt=2026-11-01/gpu.jsonl <<'EOF'
{"id":"g6","ts":"2026-11-01T00:15:00Z","account":"acct_g1","type":"gpu","deployment":"dep-c","gpu_type":"A100-80GB","gpu_count":2,"start":"2026-10-31T23:50:00Z","end":"2026-11-01T00:10:00Z"}
{"id":"g8","ts":"2026-11-01T00:05:00Z","account":"acct_nobody","type":"gpu","deployment":"dep-z","gpu_type":"NOPE-1","gpu_count":1,"start":"2026-11-01T00:00:00Z","end":"2026-11-01T00:05:00Z"}
{"id":"g-dup","ts":"2026-11-01T00:05:00Z","account":"acct_g1","type":"gpu","deployment":"dep-z","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-11-01T00:00:00Z","end":"2026-11-01T00:05:00Z"}
EOF
rate 2026-10
expect <<'EOF'
rc 0
ninv 6
# acct_g1
line acct_g1 kind=gpu product=H100-80GB deployment=dep-a meter=gpu_seconds price=4.00 qty=3610.75 amount=4.01 # g1 2 × 1800.5 = 3601 + g2 1 × 9.75 = 3610.75 × 4.00 / 3600 = 4.01194… → 4.01
line acct_g1 kind=gpu product=H100-80GB deployment=dep-b meter=gpu_seconds price=4.00 qty=3600 amount=4.00    # g3 3 × 1200 = 3600 → 4.00
line acct_g1 kind=gpu product=A100-80GB deployment=dep-a meter=gpu_seconds price=2.90 qty=1800 amount=1.45    # g4 22:00Z → 22:30Z (offset +02:00) = 1800 × 2.90 / 3600 = 1.45
line acct_g1 kind=gpu product=A100-80GB deployment=dep-c meter=gpu_seconds price=2.90 qty=3600 amount=2.90    # g5 Oct part 2 × 1200 + g6 Oct part 2 × 600 = 3600 → 2.90 (g7 ends at Oct 1 00:00: September's, ignored)
line acct_g1 kind=gpu product=H100-80GB deployment=dep-d meter=gpu_seconds price=4.00 qty=600 amount=0.67     # g-dup October copy 600 × 4 / 3600 = 0.6667 → 0.67 ; the dt=11-01 copy does not overlap October: ignored, no conflict
line acct_g1 kind=serverless product=m/mid meter=input_tokens qty=1000000 amount=0.20                           # 1,000,000 × 0.20 / 1M
# GPU sum 4.01 + 4.00 + 1.45 + 2.90 + 0.67 = 13.03 ; GPU-h 13,210.75 / 3600 = 3.67 < 10 → tier 0 ; contract 15 → 15 %
line acct_g1 kind=discount product=on_demand meter=discount qty=- amount=-1.95                                  # 13.03 × 0.15 = 1.9545 → −1.95
nlines acct_g1 7
inv acct_g1 subtotal=11.28 discount=-1.95 amount_due=11.28                                                     # 13.03 − 1.95 + 0.20
# acct_g2: 8 × 3600 × 2 = 57,600 GPU-s = 16 GPU-h → tier 5 % ; its contracts ended Oct 1 / start Nov 1 → 0
line acct_g2 kind=gpu product=H100-80GB deployment=dep-x meter=gpu_seconds qty=57600 amount=64.00               # 57,600 × 4 / 3600
line acct_g2 kind=discount product=on_demand meter=discount amount=-3.20                                       # 64.00 × 0.05
inv acct_g2 subtotal=60.80 discount=-3.20
# acct_g3: 10 × 3600 × 2 = 72,000 GPU-s = 20 GPU-h exactly → tier 10 % (min inclusive) > contract 5 %
line acct_g3 kind=gpu product=H100-80GB deployment=dep-y meter=gpu_seconds qty=72000 amount=80.00
line acct_g3 kind=discount product=on_demand meter=discount amount=-8.00                                       # 80.00 × 0.10
inv acct_g3 subtotal=72.00 discount=-8.00
# acct_g4: a 15 % contract but serverless only → no discount
inv acct_g4 subtotal=0.20 discount=0.00 amount_due=0.20
# acct_g5: 3600 + 3600 + 1980 = 9180 GPU-s × 4 / 3600 = 10.20 ; 12.5 % → 1.275 → −1.28 (half away from zero)
line acct_g5 kind=gpu product=H100-80GB deployment=dep-1 meter=gpu_seconds qty=9180 amount=10.20
inv acct_g5 subtotal=8.92 discount=-1.28
# acct_g6: two deployments 4.5 s each × 4 / 3600 = 0.005 → 0.01 each ; 25 % of the ROUNDED sum 0.02 = 0.005 → −0.01
#          (of the unrounded 0.01 it would be 0.0025 → 0.00)
line acct_g6 kind=gpu product=H100-80GB deployment=dep-p meter=gpu_seconds qty=4.5 amount=0.01
line acct_g6 kind=gpu product=H100-80GB deployment=dep-q meter=gpu_seconds qty=4.5 amount=0.01
inv acct_g6 subtotal=0.01 discount=-0.01
tieout
# counts: 8 objects ; taken: g5, g1, g2, g3, g4, g-dup, g-s1, g-s4 (8), x1, x2, y1, y2 (12), p1–p3 (15), q1, q2 (17), g6 = 18
# (g7, g8 and November's g-dup copy are ignored)
count objects=8 events_taken=18 duplicates=0 rejected=0
# gpu_seconds total = 3610.75 + 3600 + 1800 + 3600 + 600 + 57,600 + 72,000 + 9180 + 4.5 + 4.5 = 151,999.75
count meters.gpu_seconds=151999.75
EOF
close 2026-10
expect <<'EOF'
closerc 0
same
cinv acct_g1 status=open subtotal=11.28 discount=-1.95
EOF

# ====================================================================================================== S3
# Fine-tuning: quantity = training_tokens × epochs (default 1), unit price = bucket price of the base
# model's total params_b (max inclusive, MoE or not, decimals) × method multiplier (default lora_sft);
# one line per (job, unit price); never discounted (the account has a 15 % contract).
scen s3_finetune; price_book_a
put accounts.yaml <<'EOF'
accounts:
  - id: acct_f1
    name: F One
    email: f1@t.test
    payment_method: true
    contracts:
      - {on_demand_discount_percent: "15", from: 2026-10-01, to: 2026-11-01}
EOF
put usage/dt=2026-10-07/ft.jsonl <<'EOF'
{"id":"f1","ts":"2026-10-07T01:00:00Z","account":"acct_f1","type":"fine_tuning","job":"j1","base_model":"m/mid","training_tokens":1000000}
{"id":"f2","ts":"2026-10-07T02:00:00Z","account":"acct_f1","type":"fine_tuning","job":"j2","base_model":"m/dense70","training_tokens":300000,"epochs":3,"method":"lora_dpo"}
{"id":"f3","ts":"2026-10-07T03:00:00Z","account":"acct_f1","type":"fine_tuning","job":"j3","base_model":"m/ft80","training_tokens":123457,"epochs":1,"method":"full_sft"}
{"id":"f4","ts":"2026-10-07T04:00:00Z","account":"acct_f1","type":"fine_tuning","job":"j4","base_model":"m/moe-huge","training_tokens":100000,"epochs":2,"method":"full_dpo"}
{"id":"f5","ts":"2026-10-07T05:00:00Z","account":"acct_f1","type":"fine_tuning","job":"j5","base_model":"m/ft300","training_tokens":1000,"method":"lora_sft"}
{"id":"f6","ts":"2026-10-07T06:00:00Z","account":"acct_f1","type":"fine_tuning","job":"j1","base_model":"m/mid","training_tokens":1000000,"epochs":1}
{"id":"f7","ts":"2026-10-07T07:00:00Z","account":"acct_f1","type":"fine_tuning","job":"j1","base_model":"m/mid","training_tokens":500000,"method":"full_sft"}
{"id":"f8","ts":"2026-10-07T08:00:00Z","account":"acct_f1","type":"fine_tuning","job":"j6","base_model":"m/tiny","training_tokens":1}
{"id":"f9","ts":"2026-10-07T09:00:00Z","account":"acct_f1","type":"fine_tuning","job":"j7","base_model":"m/tiny","training_tokens":0,"epochs":5}
{"id":"f10","ts":"2026-10-07T10:00:00Z","account":"acct_f1","type":"fine_tuning","job":"j8","base_model":"m/dec","training_tokens":250000,"epochs":2,"method":"lora_dpo"}
EOF
rate 2026-10
expect <<'EOF'
rc 0
line acct_f1 kind=fine_tuning product=j1 meter=training_tokens price=0.50 qty=2000000 amount=1.00   # f1 + f6: (1,000,000 + 1,000,000) × 1 epoch ; m/mid 16B ≤ 16 → 0.50 × lora_sft 1 ; 2 × 0.50 = 1.00
line acct_f1 kind=fine_tuning product=j1 meter=training_tokens price=1.00 qty=500000 amount=0.50    # f7 full_sft: 0.50 × 2 = 1.00 ; 0.5 × 1.00 = 0.50
line acct_f1 kind=fine_tuning product=j2 meter=training_tokens price=6.00 qty=900000 amount=5.40    # 300,000 × 3 = 900,000 ; 70B → 3.00 × lora_dpo 2 = 6.00 ; 0.9 × 6.00 = 5.40
line acct_f1 kind=fine_tuning product=j3 meter=training_tokens price=6.00 qty=123457 amount=0.74    # 80B ≤ 80 → 3.00 × full_sft 2 = 6.00 ; 123,457 × 6 / 1M = 0.740742 → 0.74
line acct_f1 kind=fine_tuning product=j4 meter=training_tokens price=40.00 qty=200000 amount=8.00   # MoE 671B: total params → last bucket 10.00 × full_dpo 4 = 40.00 ; 200,000 × 40 / 1M = 8.00
line acct_f1 kind=fine_tuning product=j5 meter=training_tokens price=10.00 qty=1000 amount=0.01     # 300.5B > 300 → 10.00 ; 1,000 × 10 / 1M = 0.01
line acct_f1 kind=fine_tuning product=j6 meter=training_tokens price=0.50 qty=1 amount=0.00         # 1 × 0.50 / 1M = 0.0000005 → 0.00, kept
noline acct_f1 kind=fine_tuning product=j7 meter=training_tokens                                     # 0 × 5 = 0 → omitted
line acct_f1 kind=fine_tuning product=j8 meter=training_tokens price=1.00 qty=500000 amount=0.50    # 250,000 × 2 ; 4.5B → 0.50 × 2 = 1.00 ; 0.50
nlines acct_f1 8
# subtotal 1.00 + 0.50 + 5.40 + 0.74 + 8.00 + 0.01 + 0.00 + 0.50 = 16.15 ; no discount on fine-tuning
inv acct_f1 subtotal=16.15 discount=0.00 amount_due=16.15
tieout
count events_taken=10 meters.training_tokens=4224458   # 2,000,000 + 500,000 + 900,000 + 123,457 + 200,000 + 1,000 + 1 + 500,000 = 4,224,458
EOF

# ====================================================================================================== S4
# Credits: eligibility (granted_at < P.end, expires_at null or > P.start), consumption soonest-expiring
# first, no expiry last, then oldest, then id; credits = min(subtotal, available); amount due; status paid
# when due is 0 (checked on the close). m/mid input at 0.20 per 1M: 5,000,000 tokens = 1.00.
scen s4_credits; price_book_a
put accounts.yaml <<'EOF'
accounts:
  - id: acct_c1
    name: C One
    email: c1@t.test
    payment_method: true
    credits:
      - {id: cg_a, kind: free,        amount: "3.00", granted_at: 2026-09-01T00:00:00Z, expires_at: null}
      - {id: cg_b, kind: promotional, amount: "2.00", granted_at: 2026-09-15T00:00:00Z, expires_at: 2026-12-01T00:00:00Z}
      - {id: cg_c, kind: promotional, amount: "4.00", granted_at: 2026-09-10T00:00:00Z, expires_at: 2026-11-15T00:00:00Z}
      - {id: cg_d, kind: free,        amount: "1.25", granted_at: 2026-10-31T23:59:59Z, expires_at: null}
      - {id: cg_e, kind: purchased,   amount: "5.00", granted_at: 2026-11-01T00:00:00Z, expires_at: null}
      - {id: cg_f, kind: promotional, amount: "5.00", granted_at: 2026-08-01T00:00:00Z, expires_at: 2026-10-01T00:00:00Z}
      - {id: cg_g, kind: promotional, amount: "0.50", granted_at: 2026-08-01T00:00:00Z, expires_at: 2026-10-01T00:00:01Z}
  - id: acct_c2
    name: C Two
    email: c2@t.test
    payment_method: true
    credits:
      - {id: cg_h, kind: free, amount: "5.00", granted_at: 2026-10-15T00:00:00Z}
  - {id: acct_c3, name: C Three, email: c3@t.test, payment_method: true}
  - id: acct_c4
    name: C Four
    email: c4@t.test
    payment_method: true
    credits:
      - {id: cg_k2, kind: free, amount: "0.60", granted_at: 2026-09-01T00:00:00Z}
      - {id: cg_k1, kind: free, amount: "0.40", granted_at: 2026-09-01T00:00:00Z}
      - {id: cg_k3, kind: free, amount: "5.00", granted_at: 2026-08-01T00:00:00Z}
  - id: acct_c5
    name: C Five
    email: c5@t.test
    payment_method: true
    credits:
      - {id: cg_z, kind: free, amount: "9.00", granted_at: 2026-01-01T00:00:00Z}
EOF
put usage/dt=2026-10-10/s.jsonl <<'EOF'
{"id":"c1","ts":"2026-10-10T00:00:00Z","account":"acct_c1","type":"serverless","model":"m/mid","input_tokens":50000000}
{"id":"c2","ts":"2026-10-10T00:00:00Z","account":"acct_c2","type":"serverless","model":"m/mid","input_tokens":15000000}
{"id":"c3","ts":"2026-10-10T00:00:00Z","account":"acct_c3","type":"serverless","model":"m/mid","input_tokens":15000000}
{"id":"c4","ts":"2026-10-10T00:00:00Z","account":"acct_c4","type":"serverless","model":"m/mid","input_tokens":31500000}
EOF
rate 2026-10
close 2026-10
expect <<'EOF'
rc 0
closerc 0
# acct_c1: subtotal 50,000,000 × 0.20 / 1M = 10.00
#   eligible: cg_a 3.00, cg_b 2.00, cg_c 4.00, cg_d 1.25 (granted 23:59:59 < Nov 1), cg_g 0.50 (expires 00:00:01 > Oct 1)
#   not eligible: cg_e (granted_at = P.end), cg_f (expires_at = P.start) ; available 10.75 → credits min(10.00, 10.75) = 10.00
inv acct_c1 subtotal=10.00 credits_applied=10.00 amount_due=0.00
cinv acct_c1 subtotal=10.00 credits_applied=10.00 amount_due=0.00 status=paid
#   order: cg_g (exp Oct 1 00:00:01) 0.50, cg_c (exp Nov 15) 4.00, cg_b (exp Dec 1) 2.00, then no expiry: cg_a (oldest) 3.00, cg_d 0.50 of 1.25
grant acct_c1 cg_g consumed=0.50
grant acct_c1 cg_c consumed=4.00
grant acct_c1 cg_b consumed=2.00
grant acct_c1 cg_a consumed=3.00
grant acct_c1 cg_d consumed=0.50
grant acct_c1 cg_e consumed=0
grant acct_c1 cg_f consumed=0
# acct_c2: 15,000,000 × 0.20 / 1M = 3.00 ; cg_h 5.00 (expires_at omitted = null) → credits 3.00, due 0 → paid
inv acct_c2 subtotal=3.00 credits_applied=3.00 amount_due=0.00
cinv acct_c2 status=paid amount_due=0.00
grant acct_c2 cg_h consumed=3.00
# acct_c3: 3.00, no grants → due 3.00, open
inv acct_c3 subtotal=3.00 credits_applied=0.00 amount_due=3.00
cinv acct_c3 status=open amount_due=3.00
# acct_c4: 31,500,000 × 0.20 / 1M = 6.30 ; all no expiry: oldest first cg_k3 (Aug 1) 5.00, then same date → by id: cg_k1 0.40, cg_k2 0.60 → 6.00 ; due 0.30
inv acct_c4 subtotal=6.30 credits_applied=6.00 amount_due=0.30
grant acct_c4 cg_k3 consumed=5.00
grant acct_c4 cg_k1 consumed=0.40
grant acct_c4 cg_k2 consumed=0.60
# acct_c5: credit but no usage → no invoice
noinv acct_c5
ninv 4
tieout
same                                      # the close issued exactly the drafts rate printed
EOF
# November, rated from the ledger (what October's invoices consumed is known only there)
put usage/dt=2026-11-10/s.jsonl <<'EOF'
{"id":"n1","ts":"2026-11-10T00:00:00Z","account":"acct_c1","type":"serverless","model":"m/mid","input_tokens":50000000}
{"id":"n2","ts":"2026-11-10T00:00:00Z","account":"acct_c2","type":"serverless","model":"m/mid","input_tokens":15000000}
{"id":"n4","ts":"2026-11-10T00:00:00Z","account":"acct_c4","type":"serverless","model":"m/mid","input_tokens":5000000}
EOF
"$BIN" rate --period 2026-11 --at 2026-12-01T02:00:00Z --usage "$D/usage" --prices "$D/prices.yaml" --db "sqlite:$D/ledger.db" \
  --format json --log-format json >rate.json 2>rate.err; echo $? >rate.rc
expect <<'EOF'
rc 0
# acct_c1 10.00: left after October cg_d 0.75 (no expiry) ; cg_e 5.00 (granted Nov 1 < Dec 1) now eligible ;
#   cg_b, cg_c, cg_a, cg_g used up ; cg_f expired → available 5.75 → credits 5.75, due 4.25
inv acct_c1 subtotal=10.00 credits_applied=5.75 amount_due=4.25
# acct_c2 3.00: cg_h 5.00 − 3.00 = 2.00 left → credits 2.00, due 1.00
inv acct_c2 subtotal=3.00 credits_applied=2.00 amount_due=1.00
# acct_c4 1.00: all three grants used up in October → 0
inv acct_c4 subtotal=1.00 credits_applied=0.00 amount_due=1.00
EOF

# ====================================================================================================== S5
# Price versions chosen by usage time: a version starting mid-month (2026-10-15T12:00Z) splits a GPU
# interval crossing it into two lines of different unit prices; serverless / fine-tuning use the version at
# ts (effective_from inclusive); a product missing from the version in effect is no_price; the volume tiers
# are those of the version in effect at period START (v1: ≥10 GPU-h 5 %; v2 would give 50 % from 1 GPU-h).
scen s5_versions
put prices.yaml <<'EOF'
currency: USD
versions:
  - effective_from: 2026-01-01T00:00:00Z
    serverless:
      default_cached_input_multiplier: "0.5"
      batch_multiplier: "0.5"
      buckets:
        - {name: "4B - 16B", max_params_b: 16, input: "0.20", output: "0.60"}
      models: {}
    gpu_hour:
      A100-80GB: "2.90"
      H100-80GB: "4.00"
      L4-24GB: "1.00"
    gpu_volume_discounts:
      - {min_gpu_hours: 10, percent: "5"}
    fine_tuning:
      buckets:
        - {max_params_b: 16, price: "0.50"}
      method_multipliers: {lora_sft: "1", lora_dpo: "2", full_sft: "2", full_dpo: "4"}
  - effective_from: 2026-10-15T12:00:00Z
    serverless:
      default_cached_input_multiplier: "0.5"
      batch_multiplier: "0.5"
      buckets:
        - {name: "4B - 16B", max_params_b: 16, input: "0.40", output: "0.80"}
      models: {}
    gpu_hour:
      A100-80GB: "2.90"
      H100-80GB: "8.00"
    gpu_volume_discounts:
      - {min_gpu_hours: 1, percent: "50"}
    fine_tuning:
      buckets:
        - {max_params_b: 16, price: "1.00"}
      method_multipliers: {lora_sft: "1", lora_dpo: "2", full_sft: "2", full_dpo: "4"}
models:
  m/mid: {params_b: 16}
policy:
  payment_terms_days: 15
EOF
put accounts.yaml <<'EOF'
accounts:
  - {id: acct_v1, name: V One, email: v1@t.test, payment_method: true}
EOF
put usage/dt=2026-10-15/v.jsonl <<'EOF'
{"id":"v1","ts":"2026-10-15T12:30:00Z","account":"acct_v1","type":"gpu","deployment":"dep-a","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-15T11:30:00Z","end":"2026-10-15T12:30:00Z"}
{"id":"v3","ts":"2026-10-15T11:59:59.999Z","account":"acct_v1","type":"serverless","model":"m/mid","input_tokens":1000000}
{"id":"v4","ts":"2026-10-15T12:00:00Z","account":"acct_v1","type":"serverless","model":"m/mid","input_tokens":1000000}
EOF
put usage/dt=2026-10-10/v.jsonl <<'EOF'
{"id":"v2","ts":"2026-10-10T00:30:00Z","account":"acct_v1","type":"gpu","deployment":"dep-a","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-10T00:00:00Z","end":"2026-10-10T00:30:00Z"}
EOF
put usage/dt=2026-10-05/v.jsonl <<'EOF'
{"id":"v6","ts":"2026-10-05T01:00:00Z","account":"acct_v1","type":"gpu","deployment":"dep-l","gpu_type":"L4-24GB","gpu_count":1,"start":"2026-10-05T00:00:00Z","end":"2026-10-05T01:00:00Z"}
EOF
put usage/dt=2026-10-20/v.jsonl <<'EOF'
{"id":"v5","ts":"2026-10-20T00:00:00Z","account":"acct_v1","type":"fine_tuning","job":"jv","base_model":"m/mid","training_tokens":1000000}
{"id":"v7","ts":"2026-10-20T00:10:00Z","account":"acct_v1","type":"gpu","deployment":"dep-l","gpu_type":"L4-24GB","gpu_count":1,"start":"2026-10-20T00:00:00Z","end":"2026-10-20T00:10:00Z"}
EOF
rate 2026-10 --max-rejects 1
expect <<'EOF'
rc 0
line acct_v1 kind=gpu product=H100-80GB deployment=dep-a meter=gpu_seconds price=4.00 qty=3600 amount=4.00 # v2 1800 + v1's 11:30–12:00 part 1800 = 3600 × 4.00 / 3600
line acct_v1 kind=gpu product=H100-80GB deployment=dep-a meter=gpu_seconds price=8.00 qty=1800 amount=4.00 # v1's 12:00–12:30 part 1800 × 8.00 / 3600
line acct_v1 kind=gpu product=L4-24GB deployment=dep-l meter=gpu_seconds price=1.00 qty=3600 amount=1.00   # v6 in v1's time
line acct_v1 kind=serverless product=m/mid meter=input_tokens price=0.20 qty=1000000 amount=0.20          # v3 at 11:59:59.999 → v1
line acct_v1 kind=serverless product=m/mid meter=input_tokens price=0.40 qty=1000000 amount=0.40          # v4 at 12:00:00 → v2 (inclusive)
line acct_v1 kind=fine_tuning product=jv meter=training_tokens price=1.00 qty=1000000 amount=1.00         # v2 bucket 1.00
# GPU-h (3600 + 1800 + 3600) / 3600 = 2.5 < 10 (tiers of v1, in effect on Oct 1) → no discount
inv acct_v1 subtotal=10.60 discount=0.00                                                                  # 4 + 4 + 1 + 0.20 + 0.40 + 1.00
nlines acct_v1 6
count rejected=1 rejects_by_code.no_price=1                                                               # v7: L4 has no price in v2
tieout
EOF
# usage before the first version: no_price
scen s5b_before_first; cp "$W/s5_versions/prices.yaml" "$W/s5_versions/accounts.yaml" .
put usage/dt=2025-12-15/v.jsonl <<'EOF'
{"id":"old","ts":"2025-12-15T00:00:00Z","account":"acct_v1","type":"serverless","model":"m/mid","input_tokens":1000000}
EOF
rate 2025-12
expect <<'EOF'
rc 3                           # 1 reject > --max-rejects 0
count rejected=1 rejects_by_code.no_price=1
ninv 0
EOF

# ====================================================================================================== S6
# Every reject code of §11 with a minimal line; blank and whitespace-only lines are skipped; boundary
# values that are valid (interval of exactly 1h, ts = end + 1h exactly). --max-rejects and exit 3.
scen s6_rejects; price_book_a
put accounts.yaml <<'EOF'
accounts:
  - {id: acct_r, name: R, email: r@t.test, payment_method: true}
EOF
put usage/dt=2026-10-05/r.jsonl <<'EOF'
{not json
{"ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"serverless","model":"m/tiny","input_tokens":1}
{"id":"r3","account":"acct_r","type":"serverless","model":"m/tiny","input_tokens":1}
{"id":"r4","ts":"2026-10-05T10:00:00Z","type":"serverless","model":"m/tiny","input_tokens":1}
{"id":"r5","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"serverless","model":"m/tiny","input_tokens":-1}
{"id":"r6","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"serverless","model":"m/tiny","input_tokens":"5"}
{"id":"r7","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"serverless","model":"m/tiny","input_tokens":1.0}
{"id":"r8","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"serverless","model":"m/tiny","input_tokens":5,"cached_input_tokens":10}
{"id":"r9","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"bogus"}
{"id":"r10","ts":"2026-10-06T10:00:00Z","account":"acct_r","type":"serverless","model":"m/tiny","input_tokens":1}
{"id":"r11","ts":"2026-10-05T11:30:01Z","account":"acct_r","type":"gpu","deployment":"d","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-05T10:00:00Z","end":"2026-10-05T10:30:00Z"}
{"id":"r12","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"gpu","deployment":"d","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-05T10:00:00Z","end":"2026-10-05T10:00:00Z"}
{"id":"r13","ts":"2026-10-05T11:00:01Z","account":"acct_r","type":"gpu","deployment":"d","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-05T10:00:00Z","end":"2026-10-05T11:00:01Z"}
{"id":"r14","ts":"2026-10-05T10:29:59Z","account":"acct_r","type":"gpu","deployment":"d","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-05T10:00:00Z","end":"2026-10-05T10:30:00Z"}
{"id":"r15","ts":"2026-10-05T10:00:00Z","account":"acct_nobody","type":"serverless","model":"m/tiny","input_tokens":1}
{"id":"r16","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"serverless","model":"m/unknown","input_tokens":1}
{"id":"r17","ts":"2026-10-05T10:30:00Z","account":"acct_r","type":"gpu","deployment":"d","gpu_type":"X999","gpu_count":1,"start":"2026-10-05T10:00:00Z","end":"2026-10-05T10:30:00Z"}
{"id":"r18","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"fine_tuning","job":"j","base_model":"m/unknown","training_tokens":1}
{"id":"r19","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"fine_tuning","job":"j","base_model":"m/tiny","training_tokens":1,"method":"qlora"}
{"id":"r20","ts":"2026-10-05T10:30:00Z","account":"acct_r","type":"gpu","deployment":"d","gpu_type":"A100-80GB","gpu_count":0,"start":"2026-10-05T10:00:00Z","end":"2026-10-05T10:30:00Z"}
{"id":"r21","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"fine_tuning","job":"j","base_model":"m/tiny","training_tokens":1,"epochs":0}
{"id":"r22","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"serverless","model":"m/moe-huge","input_tokens":1}
{"id":"r23","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"serverless","model":"acct_r/ft-x","base_model":"m/unknown","input_tokens":1}
{"id":"r24","ts":"2026-10-05T10:30:00Z","account":"acct_r","type":"gpu","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-05T10:00:00Z","end":"2026-10-05T10:30:00Z"}
{"id":"r25","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"serverless","input_tokens":1}
 	 
{"id":"ok27","ts":"2026-10-05T12:00:00Z","account":"acct_r","type":"gpu","deployment":"dep-ok","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-05T10:00:00Z","end":"2026-10-05T11:00:00Z"}
{"id":"ok28","ts":"2026-10-05T10:00:00.5Z","account":"acct_r","type":"serverless","model":"m/tiny","input_tokens":1000000}
{"id":"r29","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"serverless","model":"m/tiny","input_tokens":1,"batch":"yes"}
{"id":"r30","ts":"2026-10-05 10:00:00","account":"acct_r","type":"serverless","model":"m/tiny","input_tokens":1}
{"id":"r31","ts":"2026-10-05T10:00:00Z","account":"acct_r","type":"fine_tuning","job":"j","base_model":"m/tiny","training_tokens":-5}

EOF
rate 2026-10
cp rate.json rate-default.json
close 2026-10 --max-rejects 28
expect <<'EOF'
rc 3                                      # 28 rejects > --max-rejects 0 ; the drafts are still printed:
inv acct_r subtotal=3.00                  # ok27: 1 × 3600 (exactly 1h, ts = end + 1h) × 2.90 / 3600 = 2.90 ; ok28: 1,000,000 × 0.10 / 1M = 0.10
line acct_r kind=gpu product=A100-80GB deployment=dep-ok meter=gpu_seconds qty=3600 amount=2.90
line acct_r kind=serverless product=m/tiny meter=input_tokens qty=1000000 amount=0.10
closerc 0                                 # 28 rejects = --max-rejects 28: not exceeded
nrejects 28
reject object=dt=2026-10-05/r.jsonl line=1 code=invalid_json
reject line=2 code=missing_field          # no id
reject line=3 id=r3 code=missing_field    # no ts
reject line=4 id=r4 code=missing_field    # no account
reject line=5 id=r5 code=invalid_value    # negative count
reject line=6 id=r6 code=invalid_value    # count as a string
reject line=7 id=r7 code=invalid_value    # count 1.0
reject line=8 id=r8 code=cached_exceeds_input
reject line=9 id=r9 code=unknown_type
reject line=10 id=r10 code=wrong_partition # ts Oct 6 in dt=2026-10-05
reject line=11 id=r11 code=late_report    # ts = end + 1h + 1s
reject line=12 id=r12 code=end_not_after_start
reject line=13 id=r13 code=interval_too_long # 1h + 1s
reject line=14 id=r14 code=invalid_value  # ts < end
reject line=15 id=r15 code=unknown_account
reject line=16 id=r16 code=no_price       # model in neither price list nor catalog, no base_model
reject line=17 id=r17 code=no_price       # GPU type without a price
reject line=18 id=r18 code=no_price       # fine-tuning base not in the catalog
reject line=19 id=r19 code=invalid_value  # unknown method (DESIGN names no code; invalid_value assumed)
reject line=20 id=r20 code=invalid_value  # gpu_count 0
reject line=21 id=r21 code=invalid_value  # epochs 0
reject line=22 id=r22 code=no_price       # MoE 671B > every MoE bucket, no explicit price ("Over 16B" is dense-only)
reject line=23 id=r23 code=no_price       # fine-tuned model whose base is unknown
reject line=24 id=r24 code=missing_field  # gpu without deployment
reject line=25 id=r25 code=missing_field  # serverless without model
reject line=29 id=r29 code=invalid_value  # batch not a bool
reject line=30 id=r30 code=invalid_value  # ts not RFC 3339
reject line=31 id=r31 code=invalid_value  # negative training_tokens
EOF
# counts of the default-limit rate: by code
cp rate-default.json rate.json
expect <<'EOF'
# missing_field: lines 2, 3, 4, 24, 25 = 5 ; invalid_value: 5, 6, 7, 14, 19, 20, 21, 29, 30, 31 = 10 ; no_price: 16, 17, 18, 22, 23 = 5
count rejected=28 rejects_by_code.invalid_json=1 rejects_by_code.missing_field=5 rejects_by_code.invalid_value=10
count rejects_by_code.cached_exceeds_input=1 rejects_by_code.unknown_type=1 rejects_by_code.wrong_partition=1
count rejects_by_code.late_report=1 rejects_by_code.end_not_after_start=1 rejects_by_code.interval_too_long=1
count rejects_by_code.unknown_account=1 rejects_by_code.no_price=5
count meters.gpu_seconds=3600 meters.input_tokens=1000000
EOF
rate 2026-10 --max-rejects 27
expect <<'EOF'
rc 3                                      # 28 > 27
EOF
rm -rf out ledger.db*
close 2026-10
expect <<'EOF'
closerc 3                                 # a close over the limit issues nothing, writes rejects.csv only
nrejects 28
EOF
[ ! -e out/2026-10/invoices.json ] && [ ! -e out/2026-10/billrun-2026-10.xlsx ]; r=$?
[ $r = 0 ] && { echo "PASS s6_rejects: stopped close wrote no invoices.json/xlsx"; printf P >>"$W/results"; } || { echo "FAIL s6_rejects: stopped close wrote exports"; printf F >>"$W/results"; }

# ====================================================================================================== S7
# Dedup: copies equal in every contract field after parsing are one event (key order, spacing, unknown
# fields, UTC offsets, fractional zeros, defaulted fields written out do not matter), across objects;
# copies differing in any contract field are duplicate_conflict, every copy one reject, none billed.
scen s7_dedup; price_book_a
put accounts.yaml <<'EOF'
accounts:
  - {id: acct_d, name: D, email: d@t.test, payment_method: true}
  - {id: acct_d2, name: D2, email: d2@t.test, payment_method: true}
EOF
put usage/dt=2026-10-05/a.jsonl <<'EOF'
{"id":"d1","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"serverless","model":"m/mid","input_tokens":1000000}
{ "model" : "m/mid",  "input_tokens": 1000000, "type":"serverless", "account":"acct_d", "ts":"2026-10-05T10:00:00Z", "id":"d1", "trace":"abc" }
{"id":"d2","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"serverless","model":"m/tiny","input_tokens":1000000}
{"id":"d2","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"serverless","model":"m/tiny","input_tokens":2000000}
{"id":"d3","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"serverless","model":"m/dense70","input_tokens":1000000}
{"id":"d3","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"serverless","model":"m/dense70","input_tokens":1000000}
{"id":"d3","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"serverless","model":"m/dense70","input_tokens":3}
{"id":"d4","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"serverless","model":"m/moe56","input_tokens":1000000}
{"id":"d4","ts":"2026-10-05T12:00:00+02:00","account":"acct_d","type":"serverless","model":"m/moe56","input_tokens":1000000,"cached_input_tokens":0,"output_tokens":0,"batch":false}
{"id":"d5","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"fine_tuning","job":"j1","base_model":"m/mid","training_tokens":1000000}
{"id":"d5","ts":"2026-10-05T10:00:00.000Z","account":"acct_d","type":"fine_tuning","job":"j1","base_model":"m/mid","training_tokens":1000000,"epochs":1,"method":"lora_sft"}
{"id":"d6","ts":"2026-10-05T10:30:00Z","account":"acct_d","type":"gpu","deployment":"dep-a","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-05T10:00:00Z","end":"2026-10-05T10:30:00Z"}
{"id":"d6","ts":"2026-10-05T10:30:00Z","account":"acct_d","type":"gpu","deployment":"dep-a","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-05T12:00:00+02:00","end":"2026-10-05T10:30:00Z"}
{"id":"d7","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"serverless","model":"m/mid","output_tokens":1000000}
{"id":"d7","ts":"2026-10-05T10:00:00Z","account":"acct_d2","type":"serverless","model":"m/mid","output_tokens":1000000}
EOF
printf '%s\n' \
 '{"id":"d1","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"serverless","model":"m/mid","input_tokens":1000000}' \
 '{"id":"d2","ts":"2026-10-05T10:00:00Z","account":"acct_d","type":"serverless","model":"m/tiny","input_tokens":1000000}' \
 | putgz usage/dt=2026-10-05/b.jsonl.gz
rate 2026-10 --max-rejects 100
expect <<'EOF'
rc 0
line acct_d kind=serverless product=m/mid meter=input_tokens qty=1000000 amount=0.20        # d1 once (3 copies) : 1M × 0.20
line acct_d kind=gpu product=H100-80GB deployment=dep-a meter=gpu_seconds qty=1800 amount=2.00 # d6 once: 1800 × 4 / 3600
line acct_d kind=serverless product=m/moe56 meter=input_tokens qty=1000000 amount=0.50     # d4 once (same instant, defaults written out)
line acct_d kind=fine_tuning product=j1 meter=training_tokens qty=1000000 amount=0.50      # d5 once: 1M × 0.50
noline acct_d kind=serverless product=m/tiny meter=input_tokens                           # d2 conflict: all 3 copies rejected
noline acct_d kind=serverless product=m/dense70 meter=input_tokens                        # d3 conflict
noline acct_d kind=serverless product=m/mid meter=output_tokens                           # d7 conflict (account differs)
nlines acct_d 4
inv acct_d subtotal=3.20                                                                  # 0.20 + 2.00 + 0.50 + 0.50
noinv acct_d2
# conflicts: d2 3 copies (a:3, a:4, b:2) + d3 3 copies + d7 2 copies = 8 rejects
count rejects_by_code.duplicate_conflict=8 rejected=8
# duplicates: d1 2 extra copies + d4 1 + d5 1 + d6 1 = 5 (d3's two equal copies are part of a conflict: all rejected)
count duplicates=5
count objects=2 events_taken=17
tieout
EOF
close 2026-10 --max-rejects 100
expect <<'EOF'
closerc 0
nrejects 8
reject object=dt=2026-10-05/a.jsonl line=3 id=d2 code=duplicate_conflict
reject object=dt=2026-10-05/a.jsonl line=4 id=d2 code=duplicate_conflict
reject object=dt=2026-10-05/b.jsonl.gz line=2 id=d2 code=duplicate_conflict
reject object=dt=2026-10-05/a.jsonl line=5 id=d3 code=duplicate_conflict
reject object=dt=2026-10-05/a.jsonl line=6 id=d3 code=duplicate_conflict
reject object=dt=2026-10-05/a.jsonl line=7 id=d3 code=duplicate_conflict
reject object=dt=2026-10-05/a.jsonl line=14 id=d7 code=duplicate_conflict
reject object=dt=2026-10-05/a.jsonl line=15 id=d7 code=duplicate_conflict
cinv acct_d subtotal=3.20
EOF

# ====================================================================================================== S8
# More edges: exact decimal quantities beyond float64 and int64 (no upper bound in DESIGN: "non-negative
# integers"), nanosecond GPU intervals, the partitions dt=P.end / dt=P.start (events overlapping P are
# validated and rejected by P; lines belonging to the next period are not), volume tier thresholds.
scen s8_edges; price_book_a
put accounts.yaml <<'EOF'
accounts:
  - {id: acct_e1, name: E1, email: e1@t.test, payment_method: true}
  - {id: acct_e2, name: E2, email: e2@t.test, payment_method: true}
  - {id: acct_e3, name: E3, email: e3@t.test, payment_method: true}
  - {id: acct_e4, name: E4, email: e4@t.test, payment_method: true}
EOF
put usage/dt=2026-10-06/e.jsonl <<'EOF'
{"id":"big1","ts":"2026-10-06T00:00:00Z","account":"acct_e1","type":"serverless","model":"m/tiny","input_tokens":9007199254740993}
{"id":"ns","ts":"2026-10-06T00:00:00.123456789Z","account":"acct_e1","type":"gpu","deployment":"dep-n","gpu_type":"H100-80GB","gpu_count":3,"start":"2026-10-06T00:00:00Z","end":"2026-10-06T00:00:00.123456789Z"}
{"id":"t3a","ts":"2026-10-06T01:00:00Z","account":"acct_e3","type":"gpu","deployment":"dep-t","gpu_type":"H100-80GB","gpu_count":9,"start":"2026-10-06T00:00:00Z","end":"2026-10-06T01:00:00Z"}
{"id":"t3b","ts":"2026-10-06T02:00:00Z","account":"acct_e3","type":"gpu","deployment":"dep-t","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-06T01:00:01Z","end":"2026-10-06T02:00:00Z"}
{"id":"t4a","ts":"2026-10-06T01:00:00Z","account":"acct_e4","type":"gpu","deployment":"dep-t","gpu_type":"H100-80GB","gpu_count":10,"start":"2026-10-06T00:00:00Z","end":"2026-10-06T01:00:00Z"}
EOF
put usage/dt=2026-10-01/e.jsonl <<'EOF'
{"id":"pstart-bad","ts":"2026-10-01T00:00:01Z","account":"acct_nobody","type":"gpu","deployment":"dep-x","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-09-30T23:30:00Z","end":"2026-10-01T00:00:01Z"}
EOF
put usage/dt=2026-11-01/e.jsonl <<'EOF'
{"id":"pend-late","ts":"2026-11-01T01:00:01Z","account":"acct_e1","type":"gpu","deployment":"dep-m","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-31T23:00:00Z","end":"2026-11-01T00:00:00Z"}
{"id":"pend-noprice","ts":"2026-11-01T00:10:00Z","account":"acct_e1","type":"gpu","deployment":"dep-m","gpu_type":"NOPE-1","gpu_count":1,"start":"2026-10-31T23:30:00Z","end":"2026-11-01T00:10:00Z"}
{"id":"pend-misplaced","ts":"2026-10-31T23:59:00Z","account":"acct_e1","type":"serverless","model":"m/tiny","input_tokens":1}
EOF
rate 2026-10 --max-rejects 3
expect <<'EOF'
rc 0
line acct_e1 kind=serverless product=m/tiny meter=input_tokens qty=9007199254740993 amount=900719925.47   # 9,007,199,254,740,993 × 0.10 / 1M = 900,719,925.4740993 → .47 (2^53 + 1: exact, not float64)
line acct_e1 kind=gpu product=H100-80GB deployment=dep-n meter=gpu_seconds qty=0.370370367 amount=0.00  # 3 × 0.123456789 s ; × 4 / 3600 = 0.00041… → 0.00, kept
# acct_e3: 9 × 3600 + 1 × 3599 = 35,999 GPU-s = 9.9997 GPU-h < 10 → no tier ; 35,999 × 4 / 3600 = 39.99889 → 40.00
line acct_e3 kind=gpu product=H100-80GB deployment=dep-t meter=gpu_seconds qty=35999 amount=40.00
inv acct_e3 subtotal=40.00 discount=0.00
# acct_e4: 10 × 3600 = 36,000 GPU-s = 10 GPU-h → 5 % ; 40.00 × 0.05 = 2.00
inv acct_e4 subtotal=38.00 discount=-2.00
# rejects of P from its edge partitions: pstart-bad overlaps October by 1 s → unknown_account ;
# pend-late overlaps October (23:00–24:00) and ts = end + 1h 1s → late_report ; pend-noprice → no_price ;
# pend-misplaced (serverless, in dt=P.end) belongs to November: not taken, not rejected by October
count rejected=3 rejects_by_code.unknown_account=1 rejects_by_code.late_report=1 rejects_by_code.no_price=1
count rejects_by_code.wrong_partition=-
tieout
EOF

# Beyond int64: DESIGN sets no upper bound; a total of 2 × 5e18 = 1e19 tokens must never be billed wrong.
# Either the run refuses (exit ≠ 0, saying so) or the line is exact: 1e19 × 0.60 / 1M = 6,000,000,000,000.00.
scen s8b_overflow; cp "$W/s8_edges/prices.yaml" "$W/s8_edges/accounts.yaml" .
put usage/dt=2026-10-06/e.jsonl <<'EOF'
{"id":"big2","ts":"2026-10-06T00:00:00Z","account":"acct_e2","type":"serverless","model":"m/mid","output_tokens":5000000000000000000}
{"id":"big3","ts":"2026-10-06T00:00:01Z","account":"acct_e2","type":"serverless","model":"m/mid","output_tokens":5000000000000000000}
EOF
rate 2026-10
if [ "$(cat rate.rc)" != 0 ]; then
  grep -qi overflow rate.err; r=$?
  [ $r = 0 ] && { echo "PASS s8b_overflow: 1e19 tokens refused loudly ($(tail -1 rate.err))"; printf P >>"$W/results"; } || { echo "FAIL s8b_overflow: exit $(cat rate.rc) without saying why"; printf F >>"$W/results"; }
else
expect <<'EOF'
line acct_e2 kind=serverless product=m/mid meter=output_tokens qty=10000000000000000000 amount=6000000000000.00
EOF
fi

# ====================================================================================================== S10
# Unit prices are never rounded: 0.333 × 0.5 = 0.1665 (cached), × 0.4 batch = 0.0666 ; only each line's
# amount is rounded. Half away from zero on an exact half cent: T4 2.905 per GPU-hour × 1 h = 2.905 → 2.91.
scen s10_unrounded_prices; price_book_a
put accounts.yaml <<'EOF'
accounts:
  - {id: acct_u, name: U, email: u@t.test, payment_method: true}
EOF
put usage/dt=2026-10-08/u.jsonl <<'EOF'
{"id":"u1","ts":"2026-10-08T00:00:00Z","account":"acct_u","type":"serverless","model":"m/odd","input_tokens":3000000,"cached_input_tokens":3000000}
{"id":"u2","ts":"2026-10-08T00:00:00Z","account":"acct_u","type":"serverless","model":"m/odd","input_tokens":3000000,"cached_input_tokens":3000000,"batch":true}
{"id":"u3","ts":"2026-10-08T01:00:00Z","account":"acct_u","type":"gpu","deployment":"dep-t4","gpu_type":"T4-16GB","gpu_count":1,"start":"2026-10-08T00:00:00Z","end":"2026-10-08T01:00:00Z"}
{"id":"u4","ts":"2026-10-08T00:00:00Z","account":"acct_u","type":"serverless","model":"m/odd","input_tokens":1500000,"output_tokens":1500000,"batch":true}
EOF
rate 2026-10
expect <<'EOF'
rc 0
line acct_u kind=serverless product=m/odd meter=cached_input_tokens price=0.1665 qty=3000000 amount=0.50        # 3 × 0.1665 = 0.4995 → 0.50 (a unit price rounded to 0.17 would give 0.51)
line acct_u kind=serverless product=m/odd meter=batch_cached_input_tokens price=0.0666 qty=3000000 amount=0.20  # 3 × 0.0666 = 0.1998 → 0.20 (0.07 would give 0.21)
line acct_u kind=serverless product=m/odd meter=batch_input_tokens price=0.1332 qty=1500000 amount=0.20         # u4: 1.5 × 0.1332 = 0.1998 → 0.20
line acct_u kind=serverless product=m/odd meter=batch_output_tokens price=0.3108 qty=1500000 amount=0.47        # 0.777 × 0.4 = 0.3108 ; 1.5 × 0.3108 = 0.4662 → 0.47
line acct_u kind=gpu product=T4-16GB deployment=dep-t4 meter=gpu_seconds price=2.905 qty=3600 amount=2.91       # 3600 × 2.905 / 3600 = 2.905 → 2.91 (half-even would say 2.90)
nlines acct_u 5
inv acct_u subtotal=4.28                                                                                         # 0.50 + 0.20 + 0.20 + 0.47 + 2.91
tieout
EOF

# ====================================================================================================== S9
# A version effective exactly at period start: its prices bill October's part of an interval that began in
# September, and its volume tiers apply. --max-gpu-interval 2h admits a 1.5 h interval.
scen s9_version_at_start
put prices.yaml <<'EOF'
currency: USD
versions:
  - effective_from: 2026-01-01T00:00:00Z
    serverless:
      default_cached_input_multiplier: "0.5"
      batch_multiplier: "0.5"
      buckets:
        - {name: "all", max_params_b: 1000, input: "0.20", output: "0.60"}
    gpu_hour:
      H100-80GB: "4.00"
    gpu_volume_discounts:
      - {min_gpu_hours: 1000, percent: "5"}
    fine_tuning:
      buckets:
        - {price: "0.50"}
      method_multipliers: {lora_sft: "1", lora_dpo: "2", full_sft: "2", full_dpo: "4"}
  - effective_from: 2026-10-01T00:00:00Z
    serverless:
      default_cached_input_multiplier: "0.5"
      batch_multiplier: "0.5"
      buckets:
        - {name: "all", max_params_b: 1000, input: "0.20", output: "0.60"}
    gpu_hour:
      H100-80GB: "8.00"
    gpu_volume_discounts:
      - {min_gpu_hours: 1, percent: "50"}
    fine_tuning:
      buckets:
        - {price: "0.50"}
      method_multipliers: {lora_sft: "1", lora_dpo: "2", full_sft: "2", full_dpo: "4"}
models:
  m/x: {params_b: 1}
EOF
put accounts.yaml <<'EOF'
accounts:
  - {id: acct_w, name: W, email: w@t.test, payment_method: true}
EOF
put usage/dt=2026-10-01/w.jsonl <<'EOF'
{"id":"w1","ts":"2026-10-01T00:30:00Z","account":"acct_w","type":"gpu","deployment":"dep-s","gpu_type":"H100-80GB","gpu_count":2,"start":"2026-09-30T23:30:00Z","end":"2026-10-01T00:30:00Z"}
EOF
put usage/dt=2026-10-02/w.jsonl <<'EOF'
{"id":"w2","ts":"2026-10-02T01:30:00Z","account":"acct_w","type":"gpu","deployment":"dep-long","gpu_type":"H100-80GB","gpu_count":1,"start":"2026-10-02T00:00:00Z","end":"2026-10-02T01:30:00Z"}
EOF
rate 2026-10 --max-gpu-interval 2h
expect <<'EOF'
rc 0
line acct_w kind=gpu product=H100-80GB deployment=dep-s meter=gpu_seconds price=8.00 qty=3600 amount=8.00     # Oct part 2 × 1800 @ 8.00 (version of Oct 1)
line acct_w kind=gpu product=H100-80GB deployment=dep-long meter=gpu_seconds price=8.00 qty=5400 amount=12.00 # 5400 × 8 / 3600
# GPU-h (3600 + 5400) / 3600 = 2.5 ≥ 1 → the Oct 1 version's tier 50 % of 20.00 = 10.00
inv acct_w subtotal=10.00 discount=-10.00
nlines acct_w 3
EOF
rate 2026-10
expect <<'EOF'
rc 3                                           # default --max-gpu-interval 1h: w2 (1.5 h) is interval_too_long
count rejects_by_code.interval_too_long=1
inv acct_w subtotal=4.00 discount=-4.00        # 8.00, 1 GPU-h → 50 %
EOF

# ------------------------------------------------------------------------------------------------------
R=$(cat "$W/results"); P=${R//F/}; F=${R//P/}
echo "rating_check: ${#R} checks, ${#P} passed, ${#F} failed"
[ ${#F} = 0 ]
