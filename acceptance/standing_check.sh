#!/usr/bin/env bash
# Acceptance checks of billrun's STANDING against DESIGN.md §6, §7, §8 and §11 ("Credits and standing",
# "More edges"): tiers and historical spend, spend limits, month usage U, credit balance, suspension and
# reinstatement, standing events, which commands re-evaluate. Every expected value is worked out by hand
# in the comment next to it, never read from billrun's code. Needs go and python3 (standard library only).
# Prints PASS/FAIL per check and a summary; exits 1 on any failure.
#
#   bash acceptance/standing_check.sh          (scratch directory: $ACC_WORK, default /tmp/accs/run)
#
# Price book used throughout (prices chosen so amounts are easy to work by hand):
#   serverless m/one: 1.00 USD per 1M input tokens → N × 10,000 tokens = N cents
#   GPU H100-80GB: 3.60 USD per GPU-hour → 0.001 USD per GPU-second
#   version v1 from 2026-01-01: volume discount 10 % from 2 GPU-hours
#   version v2 from 2026-10-15: same prices, volume discount 50 % from 2 GPU-hours (only for U's
#     month-start rule: an October U must use v1's tiers)
#   policy: the defaults (tier 1 ≥ 0 → 50, tier 2 ≥ 100 → 500, tier 3 ≥ 1000 → 5000, tier 4 ≥ 10000 → 50000)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
W=${ACC_WORK:-/tmp/accs/run}
BIN=$W/billrun
rm -rf "$W"; mkdir -p "$W"; : > "$W/results"
(cd "$REPO" && go build -o "$BIN" ./cmd/billrun) || { echo "build failed"; exit 1; }

D=
PY() { python3 "$HERE/standing_check.py" "$@" | tee -a "$W/results"; }
ck() { # ck NAME EXIT-STATUS [DETAIL]
  if [ "$2" = 0 ]; then echo "PASS $1"; else echo "FAIL $1: ${3:-}"; fi | tee -a "$W/results"; }
scen() { D=$W/$1; mkdir -p "$D/usage"; cd "$D" || exit 1; price_book; }
B() { "$BIN" "$@" --db "sqlite:$D/ledger.db" --log-format json; }

imp() { B accounts import "$1" --at "$2" >"$D/imp.out" 2>"$D/imp.err"; ck "$(basename "$D"): accounts import $1 exit 0" $? "$(tail -2 "$D/imp.err")"; }
sweep() { B sweep --usage "$D/usage" --prices "$D/prices.yaml" --at "$1" >"$D/sweep.out" 2>"$D/sweep.err"
  ck "$(basename "$D"): sweep --at $1 exit 0" $? "$(tail -2 "$D/sweep.err")"; }
close() { B close --usage "$D/usage" --prices "$D/prices.yaml" --period "$1" --at "$2" --out "$D/out" >"$D/close.out" 2>"$D/close.err"
  ck "$(basename "$D"): close --period $1 --at $2 exit 0" $? "$(tail -2 "$D/close.err")"; }
st() { B standing --format json >"$D/${1:-st}.json" 2>"$D/st.err"; }
hi() { B standing --history --format json >"$D/${1:-hist}.json" 2>"$D/hist.err"; }
row() { local f=$1 a=$2; shift 2; PY row "$D/$f.json" "$(basename "$D"): $f $a $*" "$a" "$@"; }
hist() { PY hist "$D/${3:-hist}.json" "$D/ledger.db" "$(basename "$D"): history $1" "$1" "$2"; }
# usage lines: sv ID TS ACCOUNT CENTS (serverless m/one, CENTS×10,000 input tokens = CENTS cents)
sv() { mkdir -p "$D/usage/dt=${2:0:10}"
  printf '{"id":"%s","ts":"%s","account":"%s","type":"serverless","model":"m/one","input_tokens":%s}\n' \
    "$1" "$2" "$3" "$(( $4 * 10000 ))" >>"$D/usage/dt=${2:0:10}/u.jsonl"; }
# gpu ID ACCOUNT COUNT START END  (reported at ts = END; H100 at 0.001 USD per GPU-second)
gpu() { mkdir -p "$D/usage/dt=${5:0:10}"
  printf '{"id":"%s","ts":"%s","account":"%s","type":"gpu","deployment":"d-%s","gpu_type":"H100-80GB","gpu_count":%s,"start":"%s","end":"%s"}\n' \
    "$1" "$5" "$2" "$2" "$3" "$4" "$5" >>"$D/usage/dt=${5:0:10}/u.jsonl"; }

price_book() { local v
  { echo "currency: USD"; echo "versions:"
    for v in "2026-01-01T00:00:00Z 10" "2026-10-15T00:00:00Z 50"; do set -- $v; cat <<EOF
  - effective_from: $1
    serverless:
      default_cached_input_multiplier: "0.5"
      batch_multiplier: "0.5"
      buckets:
        - {name: "Any", input: "1.00", output: "1.00"}
      models:
        m/one: {input: "1.00", output: "1.00"}
    gpu_hour: {H100-80GB: "3.60"}
    gpu_volume_discounts:
      - {min_gpu_hours: 2, percent: "$2"}
    fine_tuning:
      buckets: [{price: "1.00"}]
      method_multipliers: {lora_sft: "1", lora_dpo: "2", full_sft: "2", full_dpo: "4"}
EOF
    done
    cat <<'EOF'
models:
  m/one: {params_b: 8}
policy:
  payment_terms_days: 15
  tiers:
    - {tier: 1, min_historical_spend: "0",     spend_limit: "50"}
    - {tier: 2, min_historical_spend: "100",   spend_limit: "500"}
    - {tier: 3, min_historical_spend: "1000",  spend_limit: "5000"}
    - {tier: 4, min_historical_spend: "10000", spend_limit: "50000"}
EOF
  } >"$D/prices.yaml"; }

# =====================================================================================================
# 1. Tiers and historical spend (§7 "Historical spend = all payments with paid_at before at"; tiers;
#    §11 "A payment for: credits counts toward historical spend only"; tier 0; override). No usage.
#    All payments for credits at 2026-10-01 unless noted; sweep at 2026-10-20T00:00:00Z.
scen tiers
A1=2026-10-20T00:00:00Z
cat >accounts.yaml <<'EOF'
accounts:
  - {id: t_01_9999, name: a, email: a@t.test, payment_method: true}
  - {id: t_02_100, name: a, email: a@t.test, payment_method: true}
  - {id: t_03_split, name: a, email: a@t.test, payment_method: true}
  - {id: t_04_99999, name: a, email: a@t.test, payment_method: true}
  - {id: t_05_1000, name: a, email: a@t.test, payment_method: true}
  - {id: t_06_999999, name: a, email: a@t.test, payment_method: true}
  - {id: t_07_10000, name: a, email: a@t.test, payment_method: true}
  - {id: t_08_atpay, name: a, email: a@t.test, payment_method: true}
  - {id: t_09_ovr, name: a, email: a@t.test, payment_method: true, spend_limit_override: "7.00"}
  - {id: t_10_nopm, name: a, email: a@t.test, payment_method: false}
  - {id: t_11_nopmcr, name: a, email: a@t.test, payment_method: false,
     credits: [{id: g11, kind: promotional, amount: "20.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: t_12_nopmrich, name: a, email: a@t.test, payment_method: false,
     credits: [{id: g12, kind: purchased, amount: "5.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: t_13_nopmovr, name: a, email: a@t.test, payment_method: false, spend_limit_override: "30.00",
     credits: [{id: g13, kind: free, amount: "20.00", granted_at: 2026-10-01T00:00:00Z}]}
payments:
  - {id: p01, account: t_01_9999, amount: "99.99", paid_at: 2026-10-01T00:00:00Z, for: credits}
  - {id: p02, account: t_02_100, amount: "100.00", paid_at: 2026-10-01T00:00:00Z, for: credits}
  - {id: p03a, account: t_03_split, amount: "60.00", paid_at: 2026-10-01T00:00:00Z, for: credits}
  - {id: p03b, account: t_03_split, amount: "40.00", paid_at: 2026-10-19T23:59:59Z, for: credits}
  - {id: p04, account: t_04_99999, amount: "999.99", paid_at: 2026-10-01T00:00:00Z, for: credits}
  - {id: p05, account: t_05_1000, amount: "1000.00", paid_at: 2026-10-01T00:00:00Z, for: credits}
  - {id: p06, account: t_06_999999, amount: "9999.99", paid_at: 2026-10-01T00:00:00Z, for: credits}
  - {id: p07, account: t_07_10000, amount: "10000.00", paid_at: 2026-10-01T00:00:00Z, for: credits}
  - {id: p08, account: t_08_atpay, amount: "100.00", paid_at: 2026-10-20T00:00:00Z, for: credits}
  - {id: p09, account: t_09_ovr, amount: "10000.00", paid_at: 2026-10-01T00:00:00Z, for: credits}
  - {id: p12, account: t_12_nopmrich, amount: "10000.00", paid_at: 2026-10-01T00:00:00Z, for: credits}
EOF
imp accounts.yaml 2026-10-01T00:00:00Z
st st0
PY rows "$D/st0.json" "tiers: accounts import evaluates nothing (no standing rows yet)" 0
sweep $A1; st; hi
PY rows "$D/st.json" "tiers: sweep evaluates every account (13 rows)" 13
row st t_01_9999 tier=1 spend_limit=50.00 usage_limit=50.00 status=active reasons= month_usage=0.00 credit_balance=0.00 evaluated_at=$A1  # 99.99 < 100 → tier 1, $50
row st t_02_100 tier=2 spend_limit=500.00 usage_limit=500.00 status=active       # 100.00 ≥ 100 → tier 2
row st t_03_split tier=2 spend_limit=500.00                                      # 60 + 40 (paid 1 s before at) = 100 → tier 2
row st t_04_99999 tier=2 spend_limit=500.00                                      # 999.99 < 1000 → tier 2
row st t_05_1000 tier=3 spend_limit=5000.00 usage_limit=5000.00                  # 1000.00 → tier 3
row st t_06_999999 tier=3 spend_limit=5000.00                                    # 9999.99 → tier 3
row st t_07_10000 tier=4 spend_limit=50000.00 usage_limit=50000.00               # 10000.00 → tier 4
row st t_08_atpay tier=1 spend_limit=50.00                                       # paid_at = at is not before at → 0 → tier 1
row st t_09_ovr tier=4 spend_limit=7.00 usage_limit=7.00 status=active reasons=  # tier 4 but override 7.00 wins; U 0 < 7
row st t_10_nopm tier=0 spend_limit=0.00 usage_limit=0.00 status=suspended reasons=no_payment_method credit_balance=0.00  # U 0 + max(0,0); balance 0 ≤ 0
row st t_11_nopmcr tier=0 spend_limit=20.00 usage_limit=20.00 status=active reasons= credit_balance=20.00  # 0 + max(20,0)
row st t_12_nopmrich tier=0 spend_limit=5.00 credit_balance=5.00 status=active   # 10,000 spend but no payment method → tier 0; 0 + 5
row st t_13_nopmovr tier=0 spend_limit=30.00 usage_limit=30.00 status=active     # override 30 wins for tier 0 too
hist t_10_nopm "null>suspended[no_payment_method]@sweep@$A1"
hist t_01_9999 "null>active[]@sweep@$A1"
# one second later the payment at 2026-10-20T00:00:00Z counts: 100 → tier 2
sweep 2026-10-20T00:00:01Z; st st2; hi hist2
row st2 t_08_atpay tier=2 spend_limit=500.00 usage_limit=500.00 evaluated_at=2026-10-20T00:00:01Z
PY nev "$D/hist2.json" "tiers: a sweep that changes no status adds no event (still 13)" 13

# =====================================================================================================
# 2. Month usage U and spend limits (§7, §11). Sweep at A2 = 2026-10-20T12:00:00Z. Payment method and
#    tier 1 ($50) unless noted; no payments.
scen usage
A2=2026-10-20T12:00:00Z
cat >accounts.yaml <<'EOF'
accounts:
  - {id: u_01_eq, name: a, email: a@t.test, payment_method: true}
  - {id: u_02_below, name: a, email: a@t.test, payment_method: true}
  - {id: u_03_edge, name: a, email: a@t.test, payment_method: true}
  - {id: u_04_prev, name: a, email: a@t.test, payment_method: true}
  - {id: u_05_gcross, name: a, email: a@t.test, payment_method: true}
  - {id: u_06_gclip, name: a, email: a@t.test, payment_method: true}
  - {id: u_07_gdisc, name: a, email: a@t.test, payment_method: true}
  - {id: u_08_gmtd, name: a, email: a@t.test, payment_method: true}
  - {id: u_09_contract, name: a, email: a@t.test, payment_method: true,
     contracts: [{on_demand_discount_percent: "15", from: 2026-10-01, to: 2026-11-01}]}
  - {id: u_10_credit, name: a, email: a@t.test, payment_method: true,
     credits: [{id: g10, kind: purchased, amount: "100.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: u_11_creditlim, name: a, email: a@t.test, payment_method: true,
     credits: [{id: g11, kind: purchased, amount: "100.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: u_12_ovreq, name: a, email: a@t.test, payment_method: true, spend_limit_override: "5.00"}
  - {id: u_13_ovrhigh, name: a, email: a@t.test, payment_method: true, spend_limit_override: "100.00"}
  - {id: u_14_t0, name: a, email: a@t.test, payment_method: false,
     credits: [{id: g14, kind: free, amount: "10.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: u_15_t0zero, name: a, email: a@t.test, payment_method: false,
     credits: [{id: g15, kind: free, amount: "5.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: u_16_t0neg, name: a, email: a@t.test, payment_method: false,
     credits: [{id: g16, kind: free, amount: "5.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: u_17_t0ovr, name: a, email: a@t.test, payment_method: false, spend_limit_override: "5.00",
     credits: [{id: g17, kind: free, amount: "20.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: u_18_t0ovrneg, name: a, email: a@t.test, payment_method: false, spend_limit_override: "5.00",
     credits: [{id: g18, kind: free, amount: "2.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: u_19_t0limit, name: a, email: a@t.test, payment_method: false,
     credits: [{id: g19, kind: free, amount: "100.00", granted_at: 2026-10-01T00:00:00Z}]}
EOF
sv e01 2026-10-05T10:00:00Z u_01_eq 5000        # 50,000,000 tokens = 50.00
sv e02 2026-10-05T10:00:00Z u_02_below 4999     # 49.99
sv e03a 2026-10-20T11:59:59Z u_03_edge 100      # 1 s before at: 1.00 counted
sv e03b 2026-10-20T12:00:00Z u_03_edge 500      # ts = at: not in [month start, at)
sv e04a 2026-09-30T23:59:59Z u_04_prev 700      # September: not in October's U
sv e04b 2026-10-01T00:00:00Z u_04_prev 200      # month start, included: 2.00
gpu e05 u_05_gcross 1 2026-09-30T23:30:00Z 2026-10-01T00:30:00Z   # Oct part 1,800 s × 0.001 = 1.80
gpu e06 u_06_gclip 2 2026-10-20T11:30:00Z 2026-10-20T12:30:00Z    # clipped at at: 2 × 1,800 s = 3,600 GPU-s = 3.60
gpu e07a u_07_gdisc 1 2026-10-05T00:00:00Z 2026-10-05T01:00:00Z   # 3.60
gpu e07b u_07_gdisc 1 2026-10-05T01:00:00Z 2026-10-05T02:00:00Z   # 3.60; 2 GPU-h → v1 (Oct 1) tier 10 %
gpu e08a u_08_gmtd 1 2026-10-05T00:00:00Z 2026-10-05T01:00:00Z    # 3.60
gpu e08b u_08_gmtd 1 2026-10-20T11:30:00Z 2026-10-20T12:30:00Z    # 1,800 s to at = 1.80; 1.5 GPU-h MTD < 2 → no discount
gpu e09 u_09_contract 1 2026-10-05T00:00:00Z 2026-10-05T01:00:00Z # 3.60, contract 15 % → −0.54
sv e09s 2026-10-05T02:00:00Z u_09_contract 100  # 1.00 serverless, never discounted
sv e10 2026-10-06T00:00:00Z u_10_credit 1000    # 10.00
sv e11 2026-10-06T00:00:00Z u_11_creditlim 6000 # 60.00
sv e12 2026-10-06T00:00:00Z u_12_ovreq 500      # 5.00
sv e13 2026-10-06T00:00:00Z u_13_ovrhigh 6000   # 60.00
sv e14 2026-10-06T00:00:00Z u_14_t0 400         # 4.00
sv e15 2026-10-06T00:00:00Z u_15_t0zero 500     # 5.00
sv e16 2026-10-06T00:00:00Z u_16_t0neg 800      # 8.00
sv e17 2026-10-06T00:00:00Z u_17_t0ovr 600      # 6.00
sv e18 2026-10-06T00:00:00Z u_18_t0ovrneg 600   # 6.00
sv e19 2026-10-06T00:00:00Z u_19_t0limit 6000   # 60.00
imp accounts.yaml 2026-10-01T00:00:00Z
sweep $A2; st; hi
row st u_01_eq month_usage=50.00 spend_limit=50.00 usage_limit=50.00 status=limit_exceeded reasons=spend_limit_reached credit_balance=-50.00  # U = limit: reached; balance 0 − 50
row st u_02_below month_usage=49.99 status=active reasons= usage_limit=50.00    # 49.99 < 50
row st u_03_edge month_usage=1.00                                               # 1.00 (the 5.00 at at excluded)
row st u_04_prev month_usage=2.00                                               # 2.00 (the 7.00 in September excluded)
row st u_05_gcross month_usage=1.80                                             # 1,800 s in October
row st u_06_gclip month_usage=3.60                                              # 2 GPUs × 1,800 s before at
row st u_07_gdisc month_usage=6.48                                              # 7.20 − round(10 % × 7.20 = 0.72) (v1 tiers, not v2's 50 %)
row st u_08_gmtd month_usage=5.40                                               # 3.60 + 1.80, 1.5 GPU-h < 2 → no discount
row st u_09_contract month_usage=4.06                                           # 3.60 − 0.54 + 1.00
row st u_10_credit month_usage=10.00 credit_balance=90.00 status=active spend_limit=50.00  # credits not in U; 100 − 10
row st u_11_creditlim month_usage=60.00 credit_balance=40.00 status=limit_exceeded reasons=spend_limit_reached  # credits count against the limit: 60 ≥ 50
row st u_12_ovreq spend_limit=5.00 usage_limit=5.00 status=limit_exceeded reasons=spend_limit_reached tier=1  # U 5 = override 5
row st u_13_ovrhigh spend_limit=100.00 status=active reasons=                   # 60 < 100 (override wins over tier 1's 50)
row st u_14_t0 tier=0 spend_limit=10.00 usage_limit=10.00 credit_balance=6.00 status=active reasons=  # 4 + max(10 − 4, 0)
row st u_15_t0zero tier=0 spend_limit=5.00 usage_limit=0.00 credit_balance=0.00 status=suspended reasons=no_payment_method  # balance 5 − 5 = 0 ≤ 0; no spend_limit_reached for tier 0
row st u_16_t0neg tier=0 spend_limit=8.00 usage_limit=0.00 credit_balance=-3.00 status=suspended reasons=no_payment_method  # 5 − 8 = −3; limit 8 + max(−3, 0)
row st u_17_t0ovr tier=0 spend_limit=5.00 usage_limit=5.00 credit_balance=14.00 status=limit_exceeded reasons=spend_limit_reached  # override: 6 ≥ 5; balance 20 − 6
row st u_18_t0ovrneg tier=0 spend_limit=5.00 usage_limit=0.00 credit_balance=-4.00 status=suspended reasons=no_payment_method,spend_limit_reached  # 2 − 6; both reasons
row st u_19_t0limit tier=0 spend_limit=100.00 credit_balance=40.00 status=active reasons=  # 60 + 40; 60 < 100: tier 0 is never capped at tier 1's 50
hist u_01_eq "null>limit_exceeded[spend_limit_reached]@sweep@$A2"

# =====================================================================================================
# 3. Credit balance and its time edges (§11: granted_at ≤ at, expires_at exclusive). No usage.
scen credits
A3=2026-10-20T00:00:00Z
cat >accounts.yaml <<'EOF'
accounts:
  - {id: c_01_grantat, name: a, email: a@t.test, payment_method: true,
     credits: [{id: g1, kind: free, amount: "10.00", granted_at: 2026-10-20T00:00:00Z}]}
  - {id: c_02_later, name: a, email: a@t.test, payment_method: true,
     credits: [{id: g2, kind: free, amount: "10.00", granted_at: 2026-10-20T00:00:01Z}]}
  - {id: c_03_expat, name: a, email: a@t.test, payment_method: true,
     credits: [{id: g3, kind: free, amount: "10.00", granted_at: 2026-10-01T00:00:00Z, expires_at: 2026-10-20T00:00:00Z}]}
  - {id: c_04_expafter, name: a, email: a@t.test, payment_method: true,
     credits: [{id: g4, kind: free, amount: "10.00", granted_at: 2026-10-01T00:00:00Z, expires_at: 2026-10-20T00:00:01Z}]}
  - {id: c_05_mix, name: a, email: a@t.test, payment_method: true,
     credits: [{id: g5a, kind: free, amount: "3.00", granted_at: 2026-09-01T00:00:00Z},
               {id: g5b, kind: promotional, amount: "4.00", granted_at: 2026-09-01T00:00:00Z, expires_at: 2026-10-10T00:00:00Z},
               {id: g5c, kind: purchased, amount: "5.00", granted_at: 2026-10-02T00:00:00Z, expires_at: null}]}
  - {id: c_06_nopmexp, name: a, email: a@t.test, payment_method: false,
     credits: [{id: g6, kind: free, amount: "10.00", granted_at: 2026-10-01T00:00:00Z, expires_at: 2026-10-20T00:00:00Z}]}
  - {id: c_07_nopmok, name: a, email: a@t.test, payment_method: false,
     credits: [{id: g7, kind: free, amount: "10.00", granted_at: 2026-10-01T00:00:00Z, expires_at: 2026-10-20T00:00:01Z}]}
  - {id: c_08_nopmat, name: a, email: a@t.test, payment_method: false,
     credits: [{id: g8, kind: free, amount: "10.00", granted_at: 2026-10-20T00:00:00Z}]}
EOF
imp accounts.yaml 2026-10-01T00:00:00Z
sweep $A3; st
row st c_01_grantat credit_balance=10.00                                        # granted_at = at counts
row st c_02_later credit_balance=0.00                                           # granted 1 s after at
row st c_03_expat credit_balance=0.00                                           # expires_at = at → expired
row st c_04_expafter credit_balance=10.00                                       # expires 1 s after at
row st c_05_mix credit_balance=8.00                                             # 3 + 5 (the 4 expired Oct 10)
row st c_06_nopmexp credit_balance=0.00 status=suspended reasons=no_payment_method tier=0 spend_limit=0.00 usage_limit=0.00  # grant expired at at
row st c_07_nopmok credit_balance=10.00 status=active reasons= tier=0 spend_limit=10.00
row st c_08_nopmat credit_balance=10.00 status=active tier=0 spend_limit=10.00   # granted at at: usable

# =====================================================================================================
# 4. The story: closes, past due, payments, reinstatement, events, import vs sweep vs rerun vs close.
#    Accounts in id order get September invoices INV-2026-000001… (DESIGN §6.6). Terms 15 days:
#    close at C1 = 2026-10-01T02:00:00Z → due 2026-10-16T02:00:00Z.
scen story
C1=2026-10-01T02:00:00Z
cat >accounts.yaml <<'EOF'
accounts:
  - {id: p_a, name: a, email: a@t.test, payment_method: true}
  - {id: p_b, name: a, email: a@t.test, payment_method: true}
  - {id: p_c, name: a, email: a@t.test, payment_method: true}
  - {id: p_d, name: a, email: a@t.test, payment_method: true,
     credits: [{id: gd, kind: purchased, amount: "30.00", granted_at: 2026-09-01T00:00:00Z}]}
  - {id: p_e, name: a, email: a@t.test, payment_method: false,
     credits: [{id: ge, kind: free, amount: "5.00", granted_at: 2026-09-01T00:00:00Z}]}
  - {id: p_f, name: a, email: a@t.test, payment_method: true}
EOF
sv s_a 2026-09-10T00:00:00Z p_a 12000   # 120.00 → INV-2026-000001, due 120.00
sv s_b 2026-09-10T00:00:00Z p_b 400     # 4.00 → INV-2026-000002
sv s_c 2026-09-10T00:00:00Z p_c 1000    # 10.00 → INV-2026-000003
sv s_d 2026-09-10T00:00:00Z p_d 1000    # 10.00, credits 10 → INV-2026-000004 amount due 0 (paid); grant left 20
sv s_e 2026-09-10T00:00:00Z p_e 800     # 8.00, credits 5 → INV-2026-000005 amount due 3.00; grant left 0
sv o_a 2026-10-12T00:00:00Z p_a 50000   # October: 500.00
sv o_d 2026-10-12T00:00:00Z p_d 2500    # October: 25.00
sv n_b 2026-11-01T10:00:00Z p_b 6000    # November: 60.00
imp accounts.yaml 2026-09-01T00:00:00Z
close 2026-09 $C1; st st1; hi h1
B export --period 2026-09 --format json >e9.json 2>/dev/null
PY eval "story: Sept invoices INV-1..5 in account order, due 2026-10-16T02:00:00Z, amounts 120/4/10/0/3" \
  "[(d['number'],d['account'],d['amount_due'],d['due_at'][:19]) for d in j('e9.json')['invoices']]==[('INV-2026-00000%d'%(i+1),a,m,'2026-10-16T02:00:00') for i,(a,m) in enumerate([('p_a','120.00'),('p_b','4.00'),('p_c','10.00'),('p_d','0.00'),('p_e','3.00')])]"
PY rows "$D/st1.json" "story: close evaluates every account (6 rows, p_f without usage included)" 6
row st1 p_a status=active tier=1 month_usage=0.00 credit_balance=0.00 evaluated_at=$C1     # Oct U in [Oct 1, 02:00) = 0
row st1 p_d status=active credit_balance=20.00 month_usage=0.00                           # 30 − 10 consumed
row st1 p_e status=suspended reasons=no_payment_method tier=0 credit_balance=0.00 spend_limit=0.00 usage_limit=0.00  # 5 − 5 consumed = 0 ≤ 0
row st1 p_f status=active tier=1 spend_limit=50.00
hist p_a "null>active[]@close@$C1" h1
hist p_e "null>suspended[no_payment_method]@close@$C1" h1

S1=2026-10-16T02:00:00Z   # exactly due_at: not past due (at > due_at is needed)
sweep $S1; st st2; hi h2
row st2 p_b status=active reasons= evaluated_at=$S1
row st2 p_c status=active reasons=
row st2 p_a status=limit_exceeded reasons=spend_limit_reached month_usage=500.00 credit_balance=-500.00 usage_limit=50.00  # U 500 ≥ tier-1 50
row st2 p_d status=active month_usage=25.00 credit_balance=-5.00               # 20 − 25 (no October invoice yet): negative, payment method → active
hist p_b "null>active[]@close@$C1" h2                                          # nothing changed → no event
hist p_a "null>active[]@close@$C1;active>limit_exceeded[spend_limit_reached]@sweep@$S1" h2

S2=2026-10-16T02:00:01Z   # one second past due
sweep $S2; st st3; hi h3
row st3 p_a status=suspended reasons=past_due_invoice,spend_limit_reached usage_limit=0.00 spend_limit=50.00  # both reasons; suspended wins
row st3 p_b status=suspended reasons=past_due_invoice usage_limit=0.00 spend_limit=50.00 tier=1
row st3 p_c status=suspended reasons=past_due_invoice
row st3 p_d status=active reasons=                                             # INV-4 due 0.00 (paid by credits) never past due
row st3 p_e status=suspended reasons=past_due_invoice,no_payment_method usage_limit=0.00  # INV-5 3.00 unpaid + balance 0
hist p_b "null>active[]@close@$C1;active>suspended[past_due_invoice]@sweep@$S2" h3
hist p_a "null>active[]@close@$C1;active>limit_exceeded[spend_limit_reached]@sweep@$S1;limit_exceeded>suspended[past_due_invoice,spend_limit_reached]@sweep@$S2" h3

# payments: p_a pays 120.00 on Oct 10 (before), p_c 6.00 of 10.00, p_b 4.00 at exactly S3
S3=2026-10-21T00:00:00Z
cat >pay1.yaml <<'EOF'
payments:
  - {id: pa1, account: p_a, amount: "120.00", paid_at: 2026-10-10T09:00:00Z, invoice: INV-2026-000001}
  - {id: pc1, account: p_c, amount: "6.00", paid_at: 2026-10-12T09:00:00Z, invoice: INV-2026-000003}
  - {id: pb1, account: p_b, amount: "4.00", paid_at: 2026-10-21T00:00:00Z, invoice: INV-2026-000002}
EOF
imp pay1.yaml 2026-10-20T00:00:00Z; st st4; hi h4
PY eval "story: accounts import re-evaluates nothing (rows identical, no event)" "j('$D/st4.json')==j('$D/st3.json') and j('$D/h4.json')==j('$D/h3.json')"
sweep $S3; st st5; hi h5
row st5 p_a status=limit_exceeded reasons=spend_limit_reached tier=2 spend_limit=500.00 usage_limit=500.00  # paid → past due clears; 120 spend → tier 2; U 500 ≥ 500
row st5 p_b status=suspended reasons=past_due_invoice tier=1                   # its payment at = at is not seen yet
row st5 p_c status=suspended reasons=past_due_invoice tier=1                   # 10 − 6 = 4 still due; spend 6 → tier 1
hist p_a "null>active[]@close@$C1;active>limit_exceeded[spend_limit_reached]@sweep@$S1;limit_exceeded>suspended[past_due_invoice,spend_limit_reached]@sweep@$S2;suspended>limit_exceeded[spend_limit_reached]@sweep@$S3" h5
hist p_b "null>active[]@close@$C1;active>suspended[past_due_invoice]@sweep@$S2" h5
S4=2026-10-21T00:00:01Z
sweep $S4; st st6; hi h6
row st6 p_b status=active reasons= tier=1 usage_limit=50.00                    # reinstated: payment now before at
hist p_b "null>active[]@close@$C1;active>suspended[past_due_invoice]@sweep@$S2;suspended>active[]@sweep@$S4" h6

# October close at C2 = 2026-11-01T02:00:00Z: p_a INV-6 500.00, p_d INV-7 25 − 20 credits = 5.00
C2=2026-11-01T02:00:00Z
close 2026-10 $C2; st st7; hi h7
B export --period 2026-10 --format json >e10.json 2>/dev/null
PY eval "story: Oct invoices INV-6 p_a 500.00 due, INV-7 p_d credits 20.00 due 5.00" \
  "[(d['number'],d['account'],d['credits_applied'],d['amount_due']) for d in j('e10.json')['invoices']]==[('INV-2026-000006','p_a','0.00','500.00'),('INV-2026-000007','p_d','20.00','5.00')]"
row st7 p_a status=active reasons= tier=2 month_usage=0.00 evaluated_at=$C2     # November U before 02:00 = 0
row st7 p_b status=active month_usage=0.00                                     # its Nov usage is at 10:00
row st7 p_c status=suspended reasons=past_due_invoice
row st7 p_d status=active credit_balance=0.00 month_usage=0.00                 # 30 − 10 − 20 consumed
hist p_a "null>active[]@close@$C1;active>limit_exceeded[spend_limit_reached]@sweep@$S1;limit_exceeded>suspended[past_due_invoice,spend_limit_reached]@sweep@$S2;suspended>limit_exceeded[spend_limit_reached]@sweep@$S3;limit_exceeded>active[]@close@$C2" h7

# a rerun of one account re-evaluates every account at its --at (U = November month-to-date)
R=2026-11-02T00:00:00Z
B rerun --usage "$D/usage" --prices "$D/prices.yaml" --period 2026-10 --account p_d --at $R --out "$D/out" >rerun.out 2>rerun.err
ck "story: rerun --account p_d exit 0" $? "$(tail -2 rerun.err)"
st st8; hi h8
PY eval "story: rerun --account p_d re-evaluates every account (all evaluated_at = $R)" "all(r['evaluated_at']=='$R' for r in j('$D/st8.json')['standing']) and len(j('$D/st8.json')['standing'])==6"
row st8 p_b status=limit_exceeded reasons=spend_limit_reached month_usage=60.00  # Nov 1 10:00 usage 60 ≥ 50
hist p_b "null>active[]@close@$C1;active>suspended[past_due_invoice]@sweep@$S2;suspended>active[]@sweep@$S4;active>limit_exceeded[spend_limit_reached]@rerun@$R" h8
sweep 2026-11-02T00:30:00Z; hi h9
PY eval "story: a sweep with nothing changed adds no event" "len(j('$D/h9.json')['events'])==len(j('$D/h8.json')['events'])"
# an idempotent second close re-evaluates standing at its --at too
C3=2026-11-03T00:00:00Z
close 2026-10 $C3; st st10
PY eval "story: second close (issues nothing) re-evaluates every account at its --at" "all(r['evaluated_at']=='$C3' for r in j('$D/st10.json')['standing'])"
# p_e pays its 3.00: past_due clears, no_payment_method stays (balance 0)
cat >pay2.yaml <<'EOF'
payments:
  - {id: pe1, account: p_e, amount: "3.00", paid_at: 2026-11-03T01:00:00Z, invoice: INV-2026-000005}
  - {id: pc2, account: p_c, amount: "4.00", paid_at: 2026-11-03T01:00:00Z, invoice: INV-2026-000003}
EOF
imp pay2.yaml 2026-11-03T02:00:00Z
sweep 2026-11-03T03:00:00Z; st st11; hi h11
row st11 p_e status=suspended reasons=no_payment_method tier=0
row st11 p_c status=active reasons= tier=1                                     # 6 + 4 = 10 spend; paid in full
# a new account imported later has no row until the next evaluation
cat >acc2.yaml <<'EOF'
accounts:
  - {id: p_g, name: a, email: a@t.test, payment_method: true}
EOF
imp acc2.yaml 2026-11-03T04:00:00Z; st st12
PY eval "story: imported account has no standing row before a sweep" "'p_g' not in [r['account'] for r in j('$D/st12.json')['standing']]"
sweep 2026-11-03T05:00:00Z; st st13; hi h13
row st13 p_g status=active tier=1 evaluated_at=2026-11-03T05:00:00Z
hist p_g "null>active[]@sweep@2026-11-03T05:00:00Z" h13
hist p_e "null>suspended[no_payment_method]@close@$C1;suspended>suspended[no_payment_method,past_due_invoice]@sweep@$S2;suspended>suspended[no_payment_method]@sweep@2026-11-03T03:00:00Z" h13  # reasons changed, status not
hist p_c "null>active[]@close@$C1;active>suspended[past_due_invoice]@sweep@$S2;suspended>active[]@sweep@2026-11-03T03:00:00Z" h13

# =====================================================================================================
# 5. A sweep never stops on bad lines; rejects on its run; U leaves them out (§11 More edges).
scen badlines
A5=2026-10-20T00:00:00Z
cat >accounts.yaml <<'EOF'
accounts:
  - {id: b_a, name: a, email: a@t.test, payment_method: true}
EOF
sv ok1 2026-10-05T00:00:00Z b_a 300     # 3.00, the only good line
sv ok1 2026-10-05T00:00:00Z b_a 300     # an exact copy: counted once, not a reject
gpu g_at b_a 1 2026-10-20T00:00:00Z 2026-10-20T00:30:00Z   # starts at at: nothing of it is before at → 0.00
cat >>usage/dt=2026-10-05/u.jsonl <<'EOF'
{"id":"bad1","ts":"2026-10-05T00:00:00Z","account":"b_a","type":"serverless","model":"m/one","input_tokens":
{"id":"bad2","ts":"2026-10-05T00:00:00Z","account":"b_a","type":"serverless","model":"m/none","input_tokens":90000000}
{"id":"bad3","ts":"2026-10-05T00:00:00Z","account":"nobody","type":"serverless","model":"m/one","input_tokens":90000000}
{"id":"bad4","ts":"2026-10-05T00:00:00Z","account":"b_a","type":"serverless","model":"m/one","input_tokens":-5}
{"id":"bad5","ts":"2026-10-06T00:00:00Z","account":"b_a","type":"serverless","model":"m/one","input_tokens":90000000}
EOF
imp accounts.yaml 2026-10-01T00:00:00Z
sweep $A5; st
row st b_a month_usage=3.00 status=active                                     # only ok1 (once); 5 bad lines out; the GPU interval from at adds 0
PY eval "badlines: sweep run has 5 rejects stored (invalid_json, no_price, unknown_account, invalid_value, wrong_partition)" \
  "sorted(c for (c,) in q('$D/ledger.db',\"select code from rejects where run_id=(select id from runs where kind='sweep')\"))==sorted(['invalid_json','no_price','unknown_account','invalid_value','wrong_partition'])"
PY eval "badlines: sweep run succeeded with counts.rejected = 5" \
  "[(s, json.loads(c)['rejected']) for s,c in q('$D/ledger.db',\"select status, counts from runs where kind='sweep'\")]==[('succeeded',5)]"


# =====================================================================================================
# 6. More edges: a month that already has its invoice, the first hours of a month, override 0.
scen edges
cat >accounts.yaml <<'EOF'
accounts:
  - {id: x_01_inv, name: a, email: a@t.test, payment_method: true,
     credits: [{id: gx1, kind: purchased, amount: "100.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: x_02_early, name: a, email: a@t.test, payment_method: false,
     credits: [{id: gx2, kind: free, amount: "5.00", granted_at: 2026-10-01T00:00:00Z}]}
  - {id: x_03_ovr0, name: a, email: a@t.test, payment_method: true, spend_limit_override: "0"}
EOF
sv x1a 2026-10-05T00:00:00Z x_01_inv 1000    # 10.00, invoiced by an early close at Oct 25
sv x2a 2026-10-05T00:00:00Z x_02_early 800   # 8.00 > its 5.00 credit
imp accounts.yaml 2026-10-01T00:00:00Z
EARLY=2026-10-25T02:00:00Z
B close --usage "$D/usage" --prices "$D/prices.yaml" --period 2026-10 --at $EARLY --out "$D/out" --accounts "$D/accounts.yaml" >close.out 2>close.err
ck "edges: early close of October (before its end) exit 0" $? "$(tail -2 close.err)"
st st1
row st1 x_01_inv month_usage=10.00 credit_balance=90.00                       # invoice consumed 10: 100 − 10; the month has an invoice → no U subtracted
row st1 x_02_early month_usage=8.00 credit_balance=0.00 status=suspended reasons=no_payment_method tier=0 spend_limit=8.00  # 5 consumed of 8: 5 − 5 = 0; limit 8 + 0
row st1 x_03_ovr0 spend_limit=0.00 usage_limit=0.00 month_usage=0.00 status=limit_exceeded reasons=spend_limit_reached  # U 0 ≥ override 0
sv x1b 2026-10-25T10:00:00Z x_01_inv 500     # late usage written after the early close: 5.00
sweep 2026-10-26T00:00:00Z; st st2
row st2 x_01_inv month_usage=15.00 credit_balance=90.00                       # U = 10 + 5; October has an invoice → balance not reduced by U

# =====================================================================================================
# 7. Corrections feed the balance: a void returns its credits (§6.4 "a void gives it back"), a credit
#    note becomes a credit_note grant at its issue time that never expires (§11 Documents).
scen corrections
cat >accounts.yaml <<'EOF'
accounts:
  - {id: r_1_void, name: a, email: a@t.test, payment_method: true,
     credits: [{id: gr1, kind: purchased, amount: "20.00", granted_at: 2026-09-01T00:00:00Z}]}
  - {id: r_2_cn, name: a, email: a@t.test, payment_method: true}
EOF
sv r1 2026-09-10T00:00:00Z r_1_void 1000     # 10.00, all credits → INV-2026-000001 due 0, balance 20 − 10 = 10
sv r2 2026-09-10T00:00:00Z r_2_cn 1000       # 10.00 → INV-2026-000002 due 10.00
imp accounts.yaml 2026-09-01T00:00:00Z
close 2026-09 2026-10-01T02:00:00Z; st st1
row st1 r_1_void credit_balance=10.00
cat >pay.yaml <<'EOF'
payments:
  - {id: pr2, account: r_2_cn, amount: "10.00", paid_at: 2026-10-01T05:00:00Z, invoice: INV-2026-000002}
EOF
imp pay.yaml 2026-10-01T06:00:00Z
# corrected usage: r_1 4.00, r_2 6.00 (same ids, new content, so the old file is replaced)
rm -f usage/dt=2026-09-10/u.jsonl
sv r1 2026-09-10T00:00:00Z r_1_void 400
sv r2 2026-09-10T00:00:00Z r_2_cn 600
RR=2026-10-02T00:00:00Z
B rerun --usage "$D/usage" --prices "$D/prices.yaml" --period 2026-09 --at $RR --out "$D/out" >rerun.out 2>rerun.err
ck "corrections: rerun exit 0" $? "$(tail -2 rerun.err)"
st st2
row st2 r_1_void credit_balance=16.00 evaluated_at=$RR    # void returns 10, replacement consumes 4: 20 − 4
row st2 r_2_cn credit_balance=4.00 tier=1                 # credit note |6 − 10| = 4.00 granted at RR (≤ at counts); spend 10 → tier 1

# =====================================================================================================
echo
pass=$(grep -c '^PASS' "$W/results"); fail=$(grep -c '^FAIL' "$W/results")
echo "standing_check: $((pass + fail)) checks, $pass passed, $fail failed"
[ "$fail" = 0 ]
