#!/usr/bin/env bash
# Acceptance checks of billrun's outputs (DESIGN §9, §11 "Reconcile and export", "More edges", "Documents").
# Reproducible: builds the binary, runs every scenario in a scratch directory, prints PASS/FAIL per check
# and a summary. Needs go, python3 (stdlib only) and soffice (LibreOffice, for the "opens" check).
#
#   bash acceptance/exports_check.sh                 # SQLite
#   ACC_PG=postgres://billrun:billrun@127.0.0.1:5432 bash acceptance/exports_check.sh   # also PostgreSQL parity
#   ACC_BIG_EVENTS=200000 ACC_BIG_ACCOUNTS=300 (defaults) size the large-data scenario; ACC_BIG_EVENTS=0 skips it.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
W=${ACC_WORK:-/tmp/acc/run}
BIN=$W/billrun
PY="python3 $HERE/checks.py"
LOG=$W/checks.log
rm -rf "$W"; mkdir -p "$W"
: > "$LOG"

(cd "$REPO" && go build -o "$BIN" ./cmd/billrun && go build -o "$W/gen" ./fixtures/gen && go build -o "$W/yaml2json" ./acceptance/yaml2json) || { echo "build failed"; exit 1; }

py() { $PY "$@" 2>&1 | tee -a "$LOG"; }
ck() { # ck NAME CONDITION-EXIT-STATUS [DETAIL]
  if [ "$2" = 0 ]; then echo "PASS $1" | tee -a "$LOG"; else echo "FAIL $1: ${3:-}" | tee -a "$LOG"; fi
}
ev() { py eval "$@"; }
br() { BILLRUN_LOG_FORMAT=json "$BIN" "$@"; }

AT_CLOSE=2026-11-01T02:00:00Z

# ------------------------------------------------------------------ 1. demo close on the fixtures
scenario_demo() {
  local D=$W/demo; mkdir -p "$D"; cd "$D" || exit 1
  cp -r "$REPO/fixtures" .
  br close --period 2026-10 --at $AT_CLOSE >close.out 2>close.err; ck "demo: close exit 0" $? "$(tail -3 close.err)"
  ls out/2026-10 | sort | tr '\n' ' ' >files.txt
  ck "demo: close wrote billrun-2026-10.xlsx invoices.json rejects.csv" "$([ "$(cat files.txt)" = "billrun-2026-10.xlsx invoices.json rejects.csv " ]; echo $?)" "$(cat files.txt)"
  br export --period 2026-10 --format json >e1.json 2>/dev/null; ck "demo: export json to stdout exit 0" $?
  br export --period 2026-10 --format json >e2.json 2>/dev/null
  cmp -s e1.json e2.json; ck "demo: export json twice gives identical bytes" $?
  br export --period 2026-10 --format csv >c1.csv 2>/dev/null; ck "demo: export csv to stdout exit 0" $?
  br export --period 2026-10 --format csv >c2.csv 2>/dev/null
  cmp -s c1.csv c2.csv; ck "demo: export csv twice gives identical bytes" $?
  cmp -s e1.json out/2026-10/invoices.json; ck "demo: close's invoices.json = export json" $?
  python3 -c "import json;print('\n'.join(a['id'] for a in __import__('re').finditer and []))" >/dev/null
  grep -Eo '^  - id: [a-z_0-9]+' fixtures/accounts.yaml | awk '{print $3}' >accts.txt
  py period e1.json demo-json 2026-10 accounts=accts.txt docs=17
  py csv c1.csv e1.json demo-csv
  py rejects out/2026-10/rejects.csv demo-rejects.csv rows=0
  py xlsx out/2026-10/billrun-2026-10.xlsx e1.json demo-close-xlsx
  br export --period 2026-10 --format xlsx --out x.xlsx 2>/dev/null; ck "demo: export xlsx --out exit 0" $?
  py xlsx x.xlsx e1.json demo-export-xlsx nolo
  br standing --format json >st.json 2>/dev/null; ck "demo: standing --format json exit 0" $?
  py standing st.json demo-standing accts.txt e1.json
  br standing --format csv >st.csv 2>/dev/null
  python3 - st.csv <<'EOF' | tee -a "$LOG"
import csv,sys
rows=list(csv.reader(open(sys.argv[1],newline='')))
bad=[c for r in rows for c in r if c[:1] in '=+-@' and c]
print(('PASS' if not bad else 'FAIL')+' demo: standing --format csv cells escaped'+('' if not bad else ': '+str(bad[:5])))
EOF
  # rate json (read-only preview) after the close: drafts, counts
  br rate --period 2026-10 --format json --at $AT_CLOSE >rate.json 2>/dev/null; ck "demo: rate --format json exit 0" $?
  py rate rate.json demo-rate 2026-10 '{}'
  ev "demo-rate: drafts tie out to the issued invoices (subtotals per account)" \
     "{d['account']:d['subtotal'] for d in j('rate.json')['invoices']}=={d['account']:d['subtotal'] for d in j('e1.json')['invoices']}"
  # empty period in a database with documents
  br export --period 2026-05 --format json >empty.json 2>/dev/null; ck "demo: export of a period without documents exit 0" $?
  ev "demo: export of 2026-05 is valid JSON with empty invoices" "j('empty.json')['invoices']==[] and j('empty.json')['schema']=='billrun.period/v1'"
  br export --period 2026-05 --format csv >empty.csv 2>/dev/null; ck "demo: export csv of a period without documents exit 0" $?
  br export --period 2026-05 --format xlsx --out empty.xlsx 2>/dev/null; ck "demo: export xlsx of a period without documents exit 0" $?
  py xlsx empty.xlsx empty.json demo-empty-xlsx
  # idempotent close
  br close --period 2026-10 --at 2026-11-02T00:00:00Z >/dev/null 2>&1; ck "demo: second close exit 0" $?
  br export --period 2026-10 --format json 2>/dev/null | python3 -c "
import json,sys;a=json.load(sys.stdin);b=json.load(open('e1.json'))
print('PASS demo: second close issues nothing (same documents)' if a['invoices']==b['invoices'] else 'FAIL demo: second close changed documents')" | tee -a "$LOG"
  py gapless demo e1.json
  mkdir -p od
  br export --period 2026-10 --format json --out od/ 2>/dev/null; ck "demo: export json --out DIR/ exit 0" $?
  br export --period 2026-10 --format json >e3.json 2>/dev/null
  br export --period 2026-10 --format csv >c3.csv 2>/dev/null
  cmp -s od/invoices.json e3.json; ck "demo: export json --out DIR/ writes DIR/invoices.json = stdout export" $?
  br export --period 2026-10 --format csv --out od/x.csv 2>/dev/null; ck "demo: export csv --out FILE exit 0" $?
  cmp -s od/x.csv c3.csv; ck "demo: export csv --out FILE = stdout export" $?
  br export --period 2026-10 --format pdf >/dev/null 2>&1; rc=$?
  ck "demo: export --format pdf is bad usage (exit 2)" "$([ $rc = 2 ]; echo $?)" "rc=$rc"
  br export --format json >/dev/null 2>&1; rc=$?
  ck "demo: export without --period is bad usage (exit 2)" "$([ $rc = 2 ]; echo $?)" "rc=$rc"
}

# ------------------------------------------------------------------ 2. fresh database: empty export
scenario_fresh() {
  local D=$W/fresh; mkdir -p "$D"; cd "$D" || exit 1
  br export --db sqlite:$D/x.db --period 2026-10 --format json >e.json 2>e.err; ck "fresh: export on an empty database exit 0" $? "$(tail -2 e.err)"
  ev "fresh: empty export has empty invoices and standing arrays" "j('e.json')['invoices']==[] and j('e.json')['standing']==[]"
  py period e.json fresh 2026-10 docs=0
  br export --db sqlite:$D/x.db --period 2026-10 --format csv >e.csv 2>/dev/null; ck "fresh: export csv on an empty database exit 0" $?
  python3 -c "
import csv;r=list(csv.reader(open('e.csv',newline='')));print(('PASS' if len(r)==1 else 'FAIL')+' fresh: empty csv is the header only: %d rows'%len(r))" | tee -a "$LOG"
  br export --db sqlite:$D/x.db --period 2026-10 --format xlsx --out e.xlsx 2>/dev/null; ck "fresh: export xlsx on an empty database exit 0" $?
  py xlsx e.xlsx e.json fresh-xlsx
  br standing --db sqlite:$D/x.db --format json >s.json 2>/dev/null; ck "fresh: standing json on an empty database exit 0" $?
  ev "fresh: standing json is {schema, standing: []}" "j('s.json')=={'schema':'billrun.standing/v1','standing':[]}"
}

# ------------------------------------------------------------------ 3. rejects, reruns, void/replace, supplementary, credit note
scenario_story() { # $1 = tag, $2 = db DSN
  local T=$1 DB=$2 D=$W/$1; mkdir -p "$D"; cd "$D" || exit 1
  python3 "$HERE/mkdata.py" "$D" base
  python3 "$HERE/mkdata.py" "$D" bad
  printf '%s\n' a_cn a_credit a_disc a_none a_paid a_pdisc a_unpaid >accts.txt
  local P=(--db "$DB" --usage "$D/usage" --prices "$REPO/fixtures/prices.yaml")
  # 3a. a close stopped by rejects: exit 3, rejects.csv only
  br close "${P[@]}" --accounts accounts.yaml --period 2026-10 --at $AT_CLOSE --out out >c0.out 2>c0.err
  rc=$?; ck "$T: close with rejects over --max-rejects exits 3" "$([ $rc = 3 ]; echo $?)" "rc=$rc $(tail -2 c0.err)"
  ls out/2026-10 2>/dev/null | tr '\n' ' ' >files.txt
  ck "$T: close stopped by rejects writes rejects.csv and no other export" "$([ "$(cat files.txt)" = "rejects.csv " ]; echo $?)" "files: $(cat files.txt)"
  [ -f out/2026-10/rejects.csv ] && py rejects out/2026-10/rejects.csv "$T-rejects.csv" rows=3 codes=invalid_json,invalid_value,unknown_account
  br export "${P[@]:0:2}" --period 2026-10 --format json >e0.json 2>/dev/null; ck "$T: export after a stopped close exit 0" $?
  ev "$T: stopped close issued nothing" "j('e0.json')['invoices']==[]"
  br export "${P[@]:0:2}" --period 2026-10 --format xlsx --out e0.xlsx 2>/dev/null
  python3 - <<EOF | tee -a "$LOG"
import sys; sys.path.insert(0,'$HERE'); import xlsxread
wb=xlsxread.Workbook('e0.xlsx'); r=wb.sheet('Rejects').rows
print(('PASS' if len(r)-1==3 else 'FAIL')+' $T: xlsx Rejects sheet lists the stopped close\'s 3 rejects: %d'%(len(r)-1))
bad=[v for row in r for v,_ in row if isinstance(v,str) and v[:1] in '=+-@' and not v.startswith('-')]
EOF
  # rate: prints the drafts and counts, then exits 3
  br rate "${P[@]}" --period 2026-10 --format json --at $AT_CLOSE >rate0.json 2>/dev/null
  rc=$?; ck "$T: rate with rejects over --max-rejects exits 3" "$([ $rc = 3 ]; echo $?)" "rc=$rc"
  py rate rate0.json "$T-rate-rejects" 2026-10 '{"invalid_json": 1, "invalid_value": 1, "unknown_account": 1}'
  br rate "${P[@]}" --period 2026-10 --format json --at $AT_CLOSE --max-rejects 3 >rate1.json 2>/dev/null
  ck "$T: rate with --max-rejects 3 exits 0" $?
  rm -f "$D/usage/dt=2026-10-10/bad.jsonl"

  # 3b. the close
  br close "${P[@]}" --period 2026-10 --at $AT_CLOSE --out out >c1.out 2>c1.err; ck "$T: close exit 0" $? "$(tail -2 c1.err)"
  ls out/2026-10 | tr '\n' ' ' >files.txt
  ck "$T: close wrote the three exports" "$([ "$(cat files.txt)" = "billrun-2026-10.xlsx invoices.json rejects.csv " ]; echo $?)" "$(cat files.txt)"
  py rejects out/2026-10/rejects.csv "$T-rejects-after-fix" rows=0
  step_checks "$T" 1 6
  ev "$T-1: documents in account order INV-2026-000001..6" \
     "[(d['number'],d['account']) for d in j('e1.json')['invoices']]==[('INV-2026-000001','a_cn'),('INV-2026-000002','a_credit'),('INV-2026-000003','a_disc'),('INV-2026-000004','a_paid'),('INV-2026-000005','a_pdisc'),('INV-2026-000006','a_unpaid')]"
  ev "$T-1: a_unpaid subtotal 20.00 (4.00 tokens + 16.00 GPU), GPU line on deployment =evil()" \
     "docs('e1.json','a_unpaid')[0]['subtotal']=='20.00' and [l['deployment'] for l in docs('e1.json','a_unpaid')[0]['lines'] if l['kind']=='gpu']==['=evil()']"
  ev "$T-1: a_disc discount -0.29 (10% of 2.90), subtotal 2.81" \
     "(lambda d:(d['discount'],d['subtotal']))(docs('e1.json','a_disc')[0])==('-0.29','2.81')"
  ev "$T-1: a_credit credits 5.00, amount due 5.00" \
     "(lambda d:(d['credits_applied'],d['amount_due'],d['status']))(docs('e1.json','a_credit')[0])==('5.00','5.00','open')"
  ev "$T-1: a_paid fine-tuning line on job -job1 4.00" \
     "[(l['product'],l['amount']) for l in docs('e1.json','a_paid')[0]['lines'] if l['kind']=='fine_tuning']==[('-job1','4.00')]"

  # 3c. payments, then late usage, removed usage
  python3 "$HERE/mkdata.py" "$D" payments 6.00 INV-2026-000004 4.00 INV-2026-000001 2.61 INV-2026-000005
  br accounts import "${P[@]:0:2}" payments.yaml --at 2026-11-06T00:00:00Z >/dev/null 2>imp.err; ck "$T: accounts import payments exit 0" $? "$(tail -2 imp.err)"
  br export "${P[@]:0:2}" --period 2026-10 --format json >e1p.json 2>/dev/null
  ev "$T: after the payments a_paid and a_cn invoices are paid" \
     "[d['status'] for d in j('e1p.json')['invoices'] if d['account'] in ('a_paid','a_cn','a_pdisc')]==['paid','paid','paid']"
  python3 "$HERE/mkdata.py" "$D" late
  br export "${P[@]:0:2}" --period 2026-10 --format json >pre.json 2>/dev/null
  br rerun "${P[@]}" --period 2026-10 --at 2026-11-10T00:00:00Z --dry-run --out out >dry.out 2>dry.err; ck "$T: rerun --dry-run exit 0" $? "$(tail -2 dry.err)"
  br export "${P[@]:0:2}" --period 2026-10 --format json >post.json 2>/dev/null
  cmp -s pre.json post.json; ck "$T: rerun --dry-run changes nothing (export identical)" $?
  br rerun "${P[@]}" --period 2026-10 --at 2026-11-10T00:00:00Z --out out >r1.out 2>r1.err; ck "$T: rerun exit 0" $? "$(tail -2 r1.err)"
  step_checks "$T" 2 10
  ev "$T-2: a_unpaid: INV-2026-000006 void with voided_at, replacement INV-2026-000009 replaces it, subtotal 21.00" \
     "(lambda ds:[(d['number'],d['status'],d['voided_at'],d['replaces'],d['subtotal']) for d in ds])(docs('e2.json','a_unpaid'))==[('INV-2026-000006','void','2026-11-10T00:00:00Z',None,'20.00'),('INV-2026-000009','open',None,'INV-2026-000006','21.00')]"
  ev "$T-2: a_paid: supplementary INV-2026-000007 corrects INV-2026-000004, one +1.00 input line, status open" \
     "(lambda d:(d['number'],d['kind'],d['corrects'],d['subtotal'],d['status'],[(l['meter'],l['quantity'],l['amount']) for l in d['lines']]))(docs('e2.json','a_paid')[1])==('INV-2026-000007','supplementary','INV-2026-000004','1.00','open',[('input_tokens','5000000','1.00')])"
  ev "$T-2: a_cn: credit note CN-2026-000001 corrects INV-2026-000001, -2.00, issued, no due date, amount_due 0.00" \
     "(lambda d:(d['number'],d['kind'],d['corrects'],d['subtotal'],d['status'],d['due_at'],d['amount_due'],d['credits_applied']))(docs('e2.json','a_cn')[1])==('CN-2026-000001','credit_note','INV-2026-000001','-2.00','issued',None,'0.00','0.00')"
  ev "$T-2: a_pdisc: supplementary INV-2026-000008 with the GPU delta 2.90 and the discount delta -0.29, discount -0.29, subtotal 2.61" \
     "(lambda d:(d['number'],d['kind'],d['corrects'],d['discount'],d['subtotal'],sorted((l['kind'],l['quantity'],l['amount']) for l in d['lines'])))(docs('e2.json','a_pdisc')[1])==('INV-2026-000008','supplementary','INV-2026-000005','-0.29','2.61',[('discount',None,'-0.29'),('gpu','3600','2.90')])"
  ev "$T-2: the original documents of a_paid and a_cn stay (paid), not void" \
     "[d['status'] for d in docs('e2.json','a_paid')[:1]+docs('e2.json','a_cn')[:1]]==['paid','paid']"
  python3 - <<EOF | tee -a "$LOG"
import sys; sys.path.insert(0,'$HERE'); import xlsxread
wb=xlsxread.Workbook('e2.xlsx'); r=[[v for v,_ in row] for row in wb.sheet('Credits').rows]
g=[row for row in r if len(row)>2 and row[1]=='a_cn' and row[2]=='credit_note']
ok=len(g)==1 and g[0][3]==('num','2')
print(('PASS' if ok else 'FAIL')+' $T-2: Credits sheet lists the credit note grant of a_cn, 2.00'+('' if ok else ': '+repr(g)))
EOF
  # a second rerun with nothing changed issues nothing and exports the same bytes
  br rerun "${P[@]}" --period 2026-10 --at 2026-11-11T00:00:00Z --out out >/dev/null 2>&1; ck "$T: rerun without changes exit 0" $?
  br export "${P[@]:0:2}" --period 2026-10 --format json >e2b.json 2>/dev/null
  ev "$T: rerun without changes issues nothing" "j('e2b.json')['invoices']==j('e2.json')['invoices']"

  # 3d. another change in the next year: the replacement is voided and replaced, numbered INV-2027-000001;
  #     a_disc's usage disappears: voided, no replacement
  python3 "$HERE/mkdata.py" "$D" late2
  br rerun "${P[@]}" --period 2026-10 --at 2027-01-05T00:00:00Z --out out >r2.out 2>r2.err; ck "$T: rerun in 2027 exit 0" $? "$(tail -2 r2.err)"
  step_checks "$T" 3 11
  ev "$T-3: a_unpaid: INV-2026-000009 void, INV-2027-000001 replaces it, subtotal 22.00" \
     "[(d['number'],d['status'],d['replaces'],d['subtotal']) for d in docs('e3.json','a_unpaid')][1:]==[('INV-2026-000009','void','INV-2026-000006','21.00'),('INV-2027-000001','open','INV-2026-000009','22.00')]"
  ev "$T-3: a_disc whose usage disappeared: voided, no replacement" \
     "[(d['number'],d['status'],d['voided_at']) for d in docs('e3.json','a_disc')]==[('INV-2026-000003','void','2027-01-05T00:00:00Z')]"
  ev "$T-3: standing evaluated at the rerun's --at for every account" \
     "sorted(set(r['evaluated_at'] for r in j('e3.json')['standing']))==['2027-01-05T00:00:00Z'] and len(j('e3.json')['standing'])==7"
}

step_checks() { # tag step ndocs: the full output checks of one step
  local T=$1 S=$2 N=$3
  br export "${P[@]:0:2}" --period 2026-10 --format json >e$S.json 2>/dev/null; ck "$T-$S: export json exit 0" $?
  br export "${P[@]:0:2}" --period 2026-10 --format json >e$S.again.json 2>/dev/null
  cmp -s e$S.json e$S.again.json; ck "$T-$S: export json twice identical bytes" $?
  br export "${P[@]:0:2}" --period 2026-10 --format csv >c$S.csv 2>/dev/null; ck "$T-$S: export csv exit 0" $?
  br export "${P[@]:0:2}" --period 2026-10 --format csv >c$S.again.csv 2>/dev/null
  cmp -s c$S.csv c$S.again.csv; ck "$T-$S: export csv twice identical bytes" $?
  br export "${P[@]:0:2}" --period 2026-10 --format xlsx --out e$S.xlsx 2>/dev/null; ck "$T-$S: export xlsx exit 0" $?
  cmp -s e$S.json out/2026-10/invoices.json; ck "$T-$S: the run's invoices.json = export json" $?
  py period e$S.json "$T-$S" 2026-10 accounts=accts.txt docs=$N
  py csv c$S.csv e$S.json "$T-$S-csv"
  py xlsx e$S.xlsx e$S.json "$T-$S-xlsx"
  py xlsx out/2026-10/billrun-2026-10.xlsx e$S.json "$T-$S-run-xlsx" nolo
  br standing "${P[@]:0:2}" --format json >s$S.json 2>/dev/null; ck "$T-$S: standing json exit 0" $?
  py standing s$S.json "$T-$S-standing" accts.txt e$S.json
  py gapless "$T-$S" e$S.json
  python3 - c$S.csv <<'EOF' | tee -a "$LOG"
import csv,sys
rows=list(csv.reader(open(sys.argv[1],newline='')))
h=rows[0]; esc=[r[h.index('deployment')] for r in rows[1:] if r[h.index('line_kind')]=='gpu']+[r[h.index('product')] for r in rows[1:] if r[h.index('line_kind')]=='fine_tuning']
want={"'=evil()","'@dep","'-job1"}
ok=set(esc)&want==want or not any(x in ''.join(esc) for x in ('evil','dep','job1'))
print(('PASS' if ok else 'FAIL')+" %s: csv escapes deployment/job names '=evil()', '@dep', '-job1' with a leading '"%sys.argv[1]+('' if ok else ': '+repr(sorted(set(esc)))))
EOF
}

# ------------------------------------------------------------------ 4. large data
scenario_big() {
  local EV=${ACC_BIG_EVENTS:-200000} AC=${ACC_BIG_ACCOUNTS:-300}
  [ "$EV" = 0 ] && return
  local D=$W/big; mkdir -p "$D"; cd "$D" || exit 1
  "$W/gen" -events "$EV" -accounts "$AC" -accounts-out accounts.yaml -out usage -period 2026-10 -dup-rate 0.01 >/dev/null 2>&1
  local P=(--db sqlite:$D/big.db --usage "$D/usage" --prices "$REPO/fixtures/prices.yaml")
  br close "${P[@]}" --accounts accounts.yaml --period 2026-10 --at $AT_CLOSE --out out >c.out 2>c.err; ck "big: close $EV events $AC accounts exit 0" $? "$(tail -2 c.err)"
  grep -Eo 'id: acct_[0-9]+' accounts.yaml | awk '{print $2}' >accts.txt
  br export "${P[@]:0:2}" --period 2026-10 --format json >e.json 2>/dev/null; ck "big: export json exit 0" $?
  br export "${P[@]:0:2}" --period 2026-10 --format json >e2.json 2>/dev/null; cmp -s e.json e2.json; ck "big: export json twice identical" $?
  br export "${P[@]:0:2}" --period 2026-10 --format csv >c.csv 2>/dev/null; ck "big: export csv exit 0" $?
  py period e.json big 2026-10 accounts=accts.txt
  py csv c.csv e.json big-csv
  py xlsx out/2026-10/billrun-2026-10.xlsx e.json big-xlsx
  br rate "${P[@]}" --period 2026-10 --format json --at $AT_CLOSE >rate.json 2>/dev/null; ck "big: rate json exit 0" $?
  py rate rate.json big-rate 2026-10
  ev "big: rate drafts = issued invoices (subtotals, credits)" \
     "{d['account']:(d['subtotal'],d['credits_applied']) for d in j('rate.json')['invoices']}=={d['account']:(d['subtotal'],d['credits_applied']) for d in j('e.json')['invoices']}"
  ev "big: rate counts duplicates > 0 and events_taken = accepted + duplicates" \
     "(lambda c:c['duplicates']>0 and c['events_taken']==c['accepted']+c['duplicates']+c.get('rejected',0))(j('rate.json')['counts'])"
}

# ------------------------------------------------------------------ 5. the worked examples of /work/shared/examples
scenario_examples() {
  local EXD=${ACC_EXAMPLES:-/work/shared/examples}
  [ -d "$EXD" ] || return
  for e in "$EXD"/*/; do
    [ -f "$e/scenario.yaml" ] || continue
    py_ex "$e"
  done
}
py_ex() { python3 "$HERE/examples.py" "$BIN" "$W/yaml2json" "$1" "$W/examples/$(basename "$1")" 2>&1 | tee -a "$LOG"; }

# ------------------------------------------------------------------ 6. PostgreSQL parity (optional)
scenario_pg() {
  [ -z "${ACC_PG:-}" ] && return
  local DBN=acc_exports_$$
  psql "$ACC_PG/postgres?sslmode=disable" -qc "CREATE DATABASE $DBN" >/dev/null 2>&1 || { ck "pg: create database" 1 "psql failed"; return; }
  scenario_story pg "$ACC_PG/$DBN?sslmode=disable"
  for f in e1.json e2.json e3.json c1.csv c2.csv c3.csv s3.json; do
    cmp -s "$W/sqlite/$f" "$W/pg/$f"; ck "pg parity: $f identical to SQLite's" $?
  done
  psql "$ACC_PG/postgres?sslmode=disable" -qc "DROP DATABASE $DBN" >/dev/null 2>&1
}

scenario_demo
scenario_fresh
scenario_story sqlite "sqlite:$W/sqlite/story.db"
scenario_big
scenario_examples
scenario_pg

PASSN=$(grep -c '^PASS ' "$LOG"); FAILN=$(grep -c '^FAIL ' "$LOG")
echo
echo "== $((PASSN + FAILN)) checks, $PASSN passed, $FAILN failed (log: $LOG)"
grep '^FAIL ' "$LOG"
[ "$FAILN" = 0 ]
