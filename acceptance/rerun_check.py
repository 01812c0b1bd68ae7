"""Acceptance checks of billrun's RERUN and RECONCILE behaviour (DESIGN §8, §10, §11 "Documents",
"Reconcile and export"). Driven by acceptance/rerun_check.sh; python3 standard library only.

    python3 rerun_check.py BIN PRICES WORKDIR

Every expected amount is worked out by hand in the comment next to it. Prices (fixtures/prices.yaml,
version 2026-09-01, in effect for October 2026): llama-v3p1-8b-instruct ("4B - 16B" bucket) 0.20 per
1M input and 0.20 per 1M output tokens; A100-80GB 2.90 per GPU-hour; payment_terms_days 15.
"""
import gzip
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

BIN, PRICES, W = sys.argv[1], sys.argv[2], sys.argv[3]
L8 = 'accounts/fireworks/models/llama-v3p1-8b-instruct'
RESULTS = []


def ck(name, ok, detail=''):
    RESULTS.append((name, bool(ok)))
    print(('PASS ' if ok else 'FAIL ') + name + ('' if ok else ': ' + str(detail)), flush=True)


class Scen:
    def __init__(self, name):
        self.d = os.path.join(W, name)
        shutil.rmtree(self.d, ignore_errors=True)
        os.makedirs(os.path.join(self.d, 'usage'))
        self.db = 'sqlite:' + os.path.join(self.d, 'ledger.db')
        self.dbpath = os.path.join(self.d, 'ledger.db')
        self.out = os.path.join(self.d, 'out')
        self.n = 0

    # ---- files
    def put(self, rel, events):
        p = os.path.join(self.d, 'usage', rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'w') as f:
            for e in events:
                f.write((e if isinstance(e, str) else json.dumps(e)) + '\n')

    def rm(self, rel):
        os.remove(os.path.join(self.d, 'usage', rel))

    def write(self, name, text):
        p = os.path.join(self.d, name)
        with open(p, 'w') as f:
            f.write(text)
        return p

    # ---- billrun
    def run(self, *args, wait=True):
        """Runs billrun with the scenario's database, usage, prices and out dir where the command takes them."""
        cmd = list(args)
        sub = cmd[0]
        extra = ['--db', self.db]
        if sub in ('close', 'rerun', 'reconcile', 'rate', 'sweep'):
            extra += ['--usage', os.path.join(self.d, 'usage'), '--prices', PRICES]
        if sub in ('close', 'rerun', 'reconcile'):
            extra += ['--out', self.out]
        if sub == 'accounts':
            extra = ['--db', self.db]
        full = [BIN] + cmd + extra
        self.n += 1
        env = dict(os.environ, BILLRUN_LOG_FORMAT='json')
        if not wait:
            return subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=self.d, text=True)
        p = subprocess.run(full, capture_output=True, text=True, env=env, cwd=self.d)
        with open(os.path.join(self.d, 'cmd-%03d.log' % self.n), 'w') as f:
            f.write(' '.join(full) + '\nrc=%d\n--- stdout\n%s\n--- stderr\n%s' % (p.returncode, p.stdout, p.stderr))
        return p

    def export(self, period='2026-10'):
        p = self.run('export', '--period', period, '--format', 'json')
        if p.returncode != 0:
            raise RuntimeError('export failed: ' + p.stderr[-500:])
        return json.loads(p.stdout)

    def reconcile(self, at, period='2026-10'):
        p = self.run('reconcile', '--period', period, '--at', at, '--format', 'json')
        try:
            j = json.loads(p.stdout)
        except ValueError:
            j = None
        return p.returncode, j, p

    def sql(self, q, *a):
        c = sqlite3.connect(self.dbpath)
        try:
            return c.execute(q, a).fetchall()
        finally:
            c.close()

    def dump(self):
        c = sqlite3.connect(self.dbpath)
        try:
            return '\n'.join(c.iterdump())
        finally:
            c.close()

    def tree(self):
        out = {}
        for root, _, files in os.walk(self.out):
            for f in files:
                p = os.path.join(root, f)
                out[os.path.relpath(p, self.out)] = open(p, 'rb').read()
        return out


# ---- events (DESIGN §3)
def sv(i, acct, day, inp=0, out=0, hour=12):
    return {'id': i, 'ts': '%sT%02d:00:00Z' % (day, hour), 'account': acct, 'type': 'serverless', 'model': L8,
            'input_tokens': inp, 'output_tokens': out}


def gpu(i, acct, dep, start, end, typ='A100-80GB', n=1):
    return {'id': i, 'ts': end, 'account': acct, 'type': 'gpu', 'deployment': dep, 'gpu_type': typ,
            'gpu_count': n, 'start': start, 'end': end}


def docs(exp, acct):
    return [d for d in exp['invoices'] if d['account'] == acct]


def by_number(exp):
    return {d['number']: d for d in exp['invoices']}


def hdr(d):
    """The fields of a document a check compares (lines separately)."""
    return {k: d.get(k) for k in ('number', 'kind', 'status', 'replaces', 'corrects', 'subtotal', 'discount',
                                  'credits_applied', 'amount_due', 'amount_paid')}


def lines(d):
    return sorted((l['kind'], l['meter'], l.get('quantity'), l['amount']) for l in d['lines'])


def std(exp, acct):
    return next((s for s in exp['standing'] if s['account'] == acct), None)


def eq(name, got, want):
    ck(name, got == want, 'got %r want %r' % (got, want))


def rc_is(name, p, want):
    rc = p.returncode if hasattr(p, 'returncode') else p
    tail = (p.stderr[-300:].replace('\n', ' | ') if hasattr(p, 'stderr') and p.stderr else '')
    ck(name, rc == want, 'rc=%s want %s %s' % (rc, want, tail))


def strip_paid(exp):
    """The documents without their payment-derived fields (an import of payments changes those)."""
    return [{k: v for k, v in d.items() if k not in ('amount_paid', 'status')} for d in exp['invoices']]


# =====================================================================================================
# Scenario A: the rerun decision matrix, numbering, close idempotency, reconcile drift, dry-run, scope
# =====================================================================================================
ACCOUNTS_A = '''accounts:
  - {id: m_cover, name: Covered By Credits, email: a@x.test, payment_method: true,
     credits: [{id: g_cover, kind: free, amount: "10.00", granted_at: "2026-10-01T00:00:00Z", expires_at: null}]}
  - {id: m_gone, name: Usage Gone, email: a@x.test, payment_method: true}
  - {id: m_late, name: Late Only, email: a@x.test, payment_method: true}
  - {id: m_nochg, name: Unchanged Overpays, email: a@x.test, payment_method: true}
  - {id: m_paidcn, name: Paid Then Lower, email: a@x.test, payment_method: true}
  - {id: m_part, name: Part Paid, email: a@x.test, payment_method: true,
     credits: [{id: g_part, kind: free, amount: "1.00", granted_at: "2026-10-15T00:00:00Z", expires_at: null}]}
  - {id: m_pdisc, name: Paid Discount, email: a@x.test, payment_method: true,
     contracts: [{on_demand_discount_percent: "10", from: 2026-01-01, to: 2027-01-01}]}
  - {id: m_repl, name: Replaced Twice, email: a@x.test, payment_method: true}
  - {id: m_unpaid0, name: Net Zero Unpaid, email: a@x.test, payment_method: true}
'''
CLOSE_AT = '2026-11-01T02:00:00Z'


def scenario_a():
    s = Scen('a_matrix')
    T = 'A'
    s.write('accounts.yaml', ACCOUNTS_A)
    # m_cover: 10M input → 10 × 0.20 = 2.00; the 10.00 grant covers it: credits 2.00, due 0.00, status paid
    s.put('dt=2026-10-03/cover.jsonl', [sv('c1', 'm_cover', '2026-10-03', inp=10_000_000)])
    # m_gone: 5M input → 1.00
    s.put('dt=2026-10-03/gone.jsonl', [sv('g1', 'm_gone', '2026-10-03', inp=5_000_000)])
    # m_late: no October usage at the close → no invoice
    # m_nochg: 5M in + 5M out → 1.00 + 1.00 = 2.00, never changes
    s.put('dt=2026-10-04/nochg.jsonl', [sv('n1', 'm_nochg', '2026-10-04', inp=5_000_000, out=5_000_000)])
    # m_paidcn: 20M input → 4.00
    s.put('dt=2026-10-04/paidcn.jsonl', [sv('p1', 'm_paidcn', '2026-10-04', inp=20_000_000)])
    # m_part: 15M input → 3.00; grant g_part 1.00 → credits 1.00, due 2.00
    s.put('dt=2026-10-05/part.jsonl', [sv('pt1', 'm_part', '2026-10-05', inp=15_000_000)])
    # m_pdisc: A100 × 1 for 1 h = 3600 GPU-s × 2.90 / 3600 = 2.90; discount 10 % → −round(0.29) = −0.29;
    # subtotal 2.61
    s.put('dt=2026-10-06/pdisc.jsonl', [gpu('pd1', 'm_pdisc', 'd1', '2026-10-06T01:00:00Z', '2026-10-06T02:00:00Z')])
    # m_repl: 5M input → 1.00
    s.put('dt=2026-10-07/repl.jsonl', [sv('r1', 'm_repl', '2026-10-07', inp=5_000_000)])
    # m_unpaid0: 10M input → 2.00
    s.put('dt=2026-10-07/unpaid0.jsonl', [sv('u1', 'm_unpaid0', '2026-10-07', inp=10_000_000)])

    p = s.run('close', '--period', '2026-10', '--at', CLOSE_AT, '--accounts', os.path.join(s.d, 'accounts.yaml'))
    rc_is(T + ': close exit 0', p, 0)
    e1 = s.export()
    # Numbers in ascending account order (§6.6): m_cover 1, m_gone 2, m_nochg 3, m_paidcn 4, m_part 5,
    # m_pdisc 6, m_repl 7, m_unpaid0 8 (m_late has no usage: no invoice)
    eq(T + '-close: numbers in account order INV-2026-000001..8',
       [(d['number'], d['account']) for d in e1['invoices']],
       [('INV-2026-000001', 'm_cover'), ('INV-2026-000002', 'm_gone'), ('INV-2026-000003', 'm_nochg'),
        ('INV-2026-000004', 'm_paidcn'), ('INV-2026-000005', 'm_part'), ('INV-2026-000006', 'm_pdisc'),
        ('INV-2026-000007', 'm_repl'), ('INV-2026-000008', 'm_unpaid0')])
    eq(T + '-close: m_cover covered by credits: subtotal 2.00, credits 2.00, due 0.00, paid, amount_paid 0.00',
       hdr(docs(e1, 'm_cover')[0]),
       {'number': 'INV-2026-000001', 'kind': 'invoice', 'status': 'paid', 'replaces': None, 'corrects': None,
        'subtotal': '2.00', 'discount': '0.00', 'credits_applied': '2.00', 'amount_due': '0.00', 'amount_paid': '0.00'})
    eq(T + '-close: m_part 3.00 − credits 1.00 = due 2.00', hdr(docs(e1, 'm_part')[0])['amount_due'], '2.00')
    eq(T + '-close: m_pdisc discount −0.29, subtotal 2.61',
       (docs(e1, 'm_pdisc')[0]['discount'], docs(e1, 'm_pdisc')[0]['subtotal']), ('-0.29', '2.61'))
    eq(T + '-close: issued_at = --at, due_at = +15 days',
       (docs(e1, 'm_repl')[0]['issued_at'], docs(e1, 'm_repl')[0]['due_at']),
       ('2026-11-01T02:00:00Z', '2026-11-16T02:00:00Z'))
    eq(T + '-close: m_late has no invoice', docs(e1, 'm_late'), [])

    # reconcile right after the close: clean, exit 0 (open documents are listed, exit unchanged)
    rc, j, p = s.reconcile('2026-11-02T00:00:00Z')
    rc_is(T + ': reconcile after the close exit 0', p, 0)
    if j:
        eq(T + ': reconcile after the close: no objects, usage or ledger differences',
           (j['clean'], j['objects'], j['usage'], j['ledger']), (True, [], [], []))
        eq(T + ': reconcile lists the open documents (all but the credit-covered INV-2026-000001)',
           sorted(x['number'] for x in j['open']), ['INV-2026-0000%02d' % i for i in range(2, 9)])

    # second close: idempotent
    p = s.run('close', '--period', '2026-10', '--at', '2026-11-01T03:00:00Z')
    rc_is(T + ': second close exit 0', p, 0)
    eq(T + ': second close issues nothing (export identical)', s.export()['invoices'], e1['invoices'])

    # ---- payments (paid_at 2026-11-05) and a new grant for m_part
    s.write('pay1.yaml', '''accounts:
  - id: m_part
    credits: [{id: g_part2, kind: promotional, amount: "0.40", granted_at: "2026-10-20T00:00:00Z", expires_at: null}]
payments:
  - {id: pay_nochg, account: m_nochg, amount: "2.50", paid_at: 2026-11-05T00:00:00Z, invoice: INV-2026-000003}
  - {id: pay_paidcn, account: m_paidcn, amount: "4.00", paid_at: 2026-11-05T00:00:00Z, invoice: INV-2026-000004}
  - {id: pay_part, account: m_part, amount: "0.50", paid_at: 2026-11-05T00:00:00Z, invoice: INV-2026-000005}
  - {id: pay_pdisc, account: m_pdisc, amount: "2.61", paid_at: 2026-11-05T00:00:00Z, invoice: INV-2026-000006}
''')
    p = s.run('accounts', 'import', os.path.join(s.d, 'pay1.yaml'), '--at', '2026-11-05T12:00:00Z')
    rc_is(T + ': import payments exit 0', p, 0)
    ep = s.export()
    eq(T + ': amount_paid and status after payments (m_nochg 2.50 ≥ 2.00 paid; m_part 0.50 < 2.00 open)',
       [(d['number'], d['status'], d['amount_paid']) for d in ep['invoices'] if d['account'] in ('m_nochg', 'm_paidcn', 'm_part', 'm_pdisc')],
       [('INV-2026-000003', 'paid', '2.50'), ('INV-2026-000004', 'paid', '4.00'),
        ('INV-2026-000005', 'open', '0.50'), ('INV-2026-000006', 'paid', '2.61')])

    # reconcile: overpaid m_nochg (due 2.00, paid 2.50); open/overdue listed, exit stays 0
    # §11: a computation at `at` sees only payments with paid_at < at: at Nov 4 nothing is paid yet
    rc, j, p = s.reconcile('2026-11-04T00:00:00Z')
    if j:
        eq(T + ': reconcile --at before the payments\' paid_at: nothing overpaid, INV-3 still open',
           ([x['number'] for x in j['overpaid']], 'INV-2026-000003' in [x['number'] for x in j['open']]), ([], True))
    rc, j, p = s.reconcile('2026-11-06T00:00:00Z')
    rc_is(T + ': reconcile with an overpayment exit 0', p, 0)
    if j:
        eq(T + ': reconcile overpaid lists INV-2026-000003 due 2.00 paid 2.50',
           [(x['number'], x['amount_due'], x['amount_paid']) for x in j['overpaid']], [('INV-2026-000003', '2.00', '2.50')])
        eq(T + ': reconcile open before the due date: 2, 5, 7, 8; overdue none',
           (sorted(x['number'] for x in j['open']), j['overdue']),
           (['INV-2026-000002', 'INV-2026-000005', 'INV-2026-000007', 'INV-2026-000008'], []))
    rc, j, p = s.reconcile('2026-11-17T00:00:00Z')
    rc_is(T + ': reconcile after the due date (Nov 16 02:00) exit 0 (overdue does not change the exit code)', p, 0)
    if j:
        eq(T + ': reconcile overdue at Nov 17: INV-2026-000002, 5 (2.00 − 0.50 left), 7, 8',
           sorted((x['number'], x['amount_due'], x['amount_paid']) for x in j['overdue']),
           [('INV-2026-000002', '1.00', '0.00'), ('INV-2026-000005', '2.00', '0.50'),
            ('INV-2026-000007', '1.00', '0.00'), ('INV-2026-000008', '2.00', '0.00')])

    # ---- step 2: usage changes
    # m_cover +5M input → 15M = 3.00
    s.put('dt=2026-10-20/cover-late.jsonl', [sv('c2', 'm_cover', '2026-10-20', inp=5_000_000)])
    # m_gone: its only object removed → usage gone
    s.rm('dt=2026-10-03/gone.jsonl')
    # m_late: 5M output → 1.00
    s.put('dt=2026-10-21/late.jsonl', [sv('l1', 'm_late', '2026-10-21', out=5_000_000)])
    # m_paidcn: rewritten to 15M input → 3.00 (−1.00)
    s.put('dt=2026-10-04/paidcn.jsonl', [sv('p1b', 'm_paidcn', '2026-10-04', inp=15_000_000)])
    # m_part: +5M input → 20M = 4.00 (+1.00)
    s.put('dt=2026-10-22/part-late.jsonl', [sv('pt2', 'm_part', '2026-10-22', inp=5_000_000)])
    # m_pdisc: +30 min on d1 → 5400 GPU-s × 2.90 / 3600 = 4.35; discount −round(0.435) = −0.44 (half away
    # from zero); deltas: gpu +1800 s +1.45, discount −0.15, subtotal +1.30
    s.put('dt=2026-10-22/pdisc-late.jsonl', [gpu('pd2', 'm_pdisc', 'd1', '2026-10-22T01:00:00Z', '2026-10-22T01:30:00Z')])
    # m_repl: +5M input → 10M = 2.00
    s.put('dt=2026-10-23/repl-late.jsonl', [sv('r2', 'm_repl', '2026-10-23', inp=5_000_000)])
    # m_unpaid0: 10M input → 5M input + 5M output: 1.00 + 1.00 = 2.00, net change 0, lines changed
    s.put('dt=2026-10-07/unpaid0.jsonl', [sv('u1b', 'm_unpaid0', '2026-10-07', inp=5_000_000, out=5_000_000)])

    rc, j, p = s.reconcile('2026-11-08T00:00:00Z')
    rc_is(T + ': reconcile after usage changes (not yet rerun) exit 4', p, 4)
    if j:
        objs = sorted((o['key'].split('usage/')[-1], o['change']) for o in j['objects'])
        want = [('dt=2026-10-03/gone.jsonl', 'removed'), ('dt=2026-10-04/paidcn.jsonl', 'changed'),
                ('dt=2026-10-07/unpaid0.jsonl', 'changed'), ('dt=2026-10-20/cover-late.jsonl', 'added'),
                ('dt=2026-10-21/late.jsonl', 'added'), ('dt=2026-10-22/part-late.jsonl', 'added'),
                ('dt=2026-10-22/pdisc-late.jsonl', 'added'), ('dt=2026-10-23/repl-late.jsonl', 'added')]
        eq(T + ': reconcile objects added/changed/removed', objs, want)
        u = {(x['account'], x['kind'], x['meter']): (x['invoiced_quantity'], x['rated_quantity'], x['invoiced_amount'], x['rated_amount'], x['delta']) for x in j['usage']}
        eq(T + ': reconcile usage drift m_gone input 5000000 → 0, 1.00 → 0.00, delta -1.00',
           u.get(('m_gone', 'serverless', 'input_tokens')), ('5000000', '0', '1.00', '0.00', '-1.00'))
        eq(T + ': reconcile usage drift m_late output 0 → 5000000, +1.00',
           u.get(('m_late', 'serverless', 'output_tokens')), ('0', '5000000', '0.00', '1.00', '1.00'))
        eq(T + ': reconcile usage drift m_pdisc gpu 3600 → 5400, 2.90 → 4.35',
           u.get(('m_pdisc', 'gpu', 'gpu_seconds')), ('3600', '5400', '2.90', '4.35', '1.45'))
        eq(T + ': reconcile usage drift m_pdisc discount −0.29 → −0.44',
           (lambda v: v and v[2:])(u.get(('m_pdisc', 'discount', 'discount'))), ('-0.29', '-0.44', '-0.15'))
        eq(T + ': reconcile usage drift lists exactly the changed (account, line) pairs',
           sorted(u), sorted([('m_cover', 'serverless', 'input_tokens'), ('m_gone', 'serverless', 'input_tokens'),
                              ('m_late', 'serverless', 'output_tokens'), ('m_paidcn', 'serverless', 'input_tokens'),
                              ('m_part', 'serverless', 'input_tokens'), ('m_pdisc', 'gpu', 'gpu_seconds'),
                              ('m_pdisc', 'discount', 'discount'), ('m_repl', 'serverless', 'input_tokens'),
                              ('m_unpaid0', 'serverless', 'input_tokens'), ('m_unpaid0', 'serverless', 'output_tokens')]))
        eq(T + ': reconcile overpaid still listed with drift', [x['number'] for x in j['overpaid']], ['INV-2026-000003'])

    # ---- dry run: prints the diff, changes nothing (database, exports)
    dump0, tree0, exp0 = s.dump(), s.tree(), s.export()
    p = s.run('rerun', '--period', '2026-10', '--at', '2026-11-09T00:00:00Z', '--dry-run')
    rc_is(T + ': rerun --dry-run exit 0', p, 0)
    out = p.stdout
    eq(T + ': rerun --dry-run changes nothing in the database', s.dump() == dump0, True)
    eq(T + ': rerun --dry-run writes no export file', s.tree() == tree0, True)
    eq(T + ': rerun --dry-run: export identical', s.export() == exp0, True)
    blk = {}
    cur = None
    for line in out.splitlines():
        if line.startswith('  m_'):
            cur = line.split()[0].rstrip(':')
            blk[cur] = [line]
        elif cur and line.startswith('    '):
            blk[cur].append(line)
    for acct, old, new, delta in [('m_cover', '2.00', '3.00', '1.00'), ('m_gone', '1.00', '0.00', '-1.00'),
                                  ('m_late', '0.00', '1.00', '1.00'), ('m_paidcn', '4.00', '3.00', '-1.00'),
                                  ('m_part', '3.00', '4.00', '1.00'), ('m_pdisc', '2.61', '3.91', '1.30'),
                                  ('m_repl', '1.00', '2.00', '1.00'), ('m_unpaid0', '2.00', '2.00', '0.00')]:
        b = '\n'.join(blk.get(acct, []))
        ok = ('old %s' % old in b and 'new %s' % new in b and 'delta %s' % delta in b)
        ck(T + ': dry-run diff of %s: old %s, new %s, delta %s' % (acct, old, new, delta), ok, repr(b))
    b = '\n'.join(blk.get('m_pdisc', []))
    ck(T + ': dry-run lists m_pdisc changed lines: gpu 3600 → 5400 and the discount -0.29 → -0.44',
       '3600 → 5400' in b and '-0.29 → -0.44' in b, repr(b))
    b = '\n'.join(blk.get('m_unpaid0', []))
    ck(T + ': dry-run lists both changed lines of m_unpaid0 (net 0)', b.count('→') >= 4 and '5000000' in b, repr(b))
    ck(T + ': dry-run does not list the unchanged m_nochg', 'm_nochg' not in blk, repr(blk.get('m_nochg')))

    # ---- rerun scoped to one account
    p = s.run('rerun', '--period', '2026-10', '--at', '2026-11-09T00:00:00Z', '--account', 'm_repl')
    rc_is(T + ': rerun --account m_repl exit 0', p, 0)
    e2 = s.export()
    # m_repl: lone unpaid original changed → INV-2026-000007 void, INV-2026-000009 replaces it (2.00)
    eq(T + '-scoped: m_repl: INV-2026-000007 void (voided_at), INV-2026-000009 replaces it, subtotal 2.00',
       [(d['number'], d['status'], d.get('voided_at'), d['replaces'], d['subtotal'], d['kind']) for d in docs(e2, 'm_repl')],
       [('INV-2026-000007', 'void', '2026-11-09T00:00:00Z', None, '1.00', 'invoice'),
        ('INV-2026-000009', 'open', None, 'INV-2026-000007', '2.00', 'invoice')])
    eq(T + '-scoped: the other accounts\' documents are untouched',
       [d for d in e2['invoices'] if d['account'] != 'm_repl'], [d for d in ep['invoices'] if d['account'] != 'm_repl'])

    # ---- full rerun at 2026-11-10
    p = s.run('rerun', '--period', '2026-10', '--at', '2026-11-10T00:00:00Z')
    rc_is(T + ': rerun exit 0', p, 0)
    e3 = s.export()
    N = by_number(e3)
    # numbering continues in account order: m_cover INV-10, m_late INV-11, m_paidcn CN-2026-000001,
    # m_part INV-12, m_pdisc INV-13, m_unpaid0 INV-14; m_gone voided without a number; m_nochg, m_repl nothing
    eq(T + '-rerun: new documents and numbers',
       [(d['number'], d['account'], d['kind']) for d in e3['invoices'] if d['number'] not in by_number(e2)],
       [('INV-2026-000010', 'm_cover', 'invoice'), ('INV-2026-000011', 'm_late', 'invoice'),
        ('CN-2026-000001', 'm_paidcn', 'credit_note'), ('INV-2026-000012', 'm_part', 'supplementary'),
        ('INV-2026-000013', 'm_pdisc', 'supplementary'), ('INV-2026-000014', 'm_unpaid0', 'invoice')])
    # m_cover: credit-covered invoice has no payment → void + replace; credits return (2.00) and apply afresh:
    # replacement 3.00, credits 3.00, due 0.00, paid
    eq(T + '-rerun: m_cover (credits only = no payment): INV-1 void, INV-10 replaces it, 3.00 all credits',
       [hdr(d) for d in docs(e3, 'm_cover')],
       [{'number': 'INV-2026-000001', 'kind': 'invoice', 'status': 'void', 'replaces': None, 'corrects': None, 'subtotal': '2.00',
         'discount': '0.00', 'credits_applied': '2.00', 'amount_due': '0.00', 'amount_paid': '0.00'},
        {'number': 'INV-2026-000010', 'kind': 'invoice', 'status': 'paid', 'replaces': 'INV-2026-000001', 'corrects': None,
         'subtotal': '3.00', 'discount': '0.00', 'credits_applied': '3.00', 'amount_due': '0.00', 'amount_paid': '0.00'}])
    # grant g_cover: 10.00, consumed 3.00 by the effective document only → ledger consumption 300 cents
    cons = s.sql("SELECT d.number, c.amount_cents FROM consumptions c JOIN documents d ON d.id = c.document_id "
                 "WHERE c.grant_id = 'g_cover' AND d.voided_at IS NULL")
    eq(T + '-rerun: g_cover consumed 3.00 by effective documents (the void one gave its 2.00 back)', cons, [('INV-2026-000010', 300)])
    # standing at 2026-11-10: balance = 10.00 − 3.00 = 7.00 (no November usage)
    eq(T + '-rerun: m_cover credit_balance 7.00', (std(e3, 'm_cover') or {}).get('credit_balance'), '7.00')
    # m_gone: usage gone, unpaid → void, no replacement
    eq(T + '-rerun: m_gone voided, no replacement',
       [(d['number'], d['status'], d.get('voided_at')) for d in docs(e3, 'm_gone')], [('INV-2026-000002', 'void', '2026-11-10T00:00:00Z')])
    # m_late: no invoice yet → an invoice (not a correction), 1.00, due Nov 25
    eq(T + '-rerun: m_late gets a plain invoice of 1.00 issued at the rerun --at, due +15 days',
       [(d['number'], d['kind'], d['replaces'], d['corrects'], d['subtotal'], d['amount_due'], d['status'], d['issued_at'], d['due_at']) for d in docs(e3, 'm_late')],
       [('INV-2026-000011', 'invoice', None, None, '1.00', '1.00', 'open', '2026-11-10T00:00:00Z', '2026-11-25T00:00:00Z')])
    # m_paidcn: paid, net −1.00 → credit note: line −5,000,000 input, −1.00; subtotal −1.00; credits 0; due 0;
    # status issued; no due date; corrects INV-2026-000004
    cn = N.get('CN-2026-000001', {})
    eq(T + '-rerun: m_paidcn credit note CN-2026-000001 fields',
       (hdr(cn), cn.get('due_at'), cn.get('issued_at')),
       ({'number': 'CN-2026-000001', 'kind': 'credit_note', 'status': 'issued', 'replaces': None, 'corrects': 'INV-2026-000004',
         'subtotal': '-1.00', 'discount': '0.00', 'credits_applied': '0.00', 'amount_due': '0.00', 'amount_paid': '0.00'},
        None, '2026-11-10T00:00:00Z'))
    eq(T + '-rerun: credit note lines = negative delta', lines(cn) if cn else None, [('serverless', 'input_tokens', '-5000000', '-1.00')])
    eq(T + '-rerun: the paid original INV-2026-000004 stays paid, not void', N['INV-2026-000004']['status'], 'paid')
    g = s.sql("SELECT kind, amount_cents, granted_at, expires_at FROM grants WHERE account_id = 'm_paidcn'")
    eq(T + '-rerun: credit note creates a credit_note grant of 1.00 at its issue time, never expiring',
       [(k, a, t[:19], x) for k, a, t, x in g], [('credit_note', 100, '2026-11-10T00:00:00', None)])
    eq(T + '-rerun: m_paidcn credit_balance 1.00 (the credit note grant)', (std(e3, 'm_paidcn') or {}).get('credit_balance'), '1.00')
    # m_part: partly paid (0.50) → supplementary +1.00; g_part used up; g_part2 0.40 (granted Oct 20 < Nov 1)
    # applies: credits 0.40, due 0.60; corrects INV-2026-000005; due Nov 25
    sp = N.get('INV-2026-000012', {})
    eq(T + '-rerun: m_part supplementary INV-2026-000012: +1.00, credits 0.40, due 0.60, open, corrects INV-5',
       (hdr(sp), lines(sp) if sp else None, sp.get('due_at')),
       ({'number': 'INV-2026-000012', 'kind': 'supplementary', 'status': 'open', 'replaces': None, 'corrects': 'INV-2026-000005',
         'subtotal': '1.00', 'discount': '0.00', 'credits_applied': '0.40', 'amount_due': '0.60', 'amount_paid': '0.00'},
        [('serverless', 'input_tokens', '5000000', '1.00')], '2026-11-25T00:00:00Z'))
    # m_pdisc: paid → supplementary: gpu +1800 s +1.45, discount −0.15; subtotal 1.30; discount −0.15
    sd = N.get('INV-2026-000013', {})
    eq(T + '-rerun: m_pdisc supplementary with the gpu delta +1.45 and the discount delta −0.15, subtotal 1.30',
       (hdr(sd), lines(sd) if sd else None),
       ({'number': 'INV-2026-000013', 'kind': 'supplementary', 'status': 'open', 'replaces': None, 'corrects': 'INV-2026-000006',
         'subtotal': '1.30', 'discount': '-0.15', 'credits_applied': '0.00', 'amount_due': '1.30', 'amount_paid': '0.00'},
        [('discount', 'discount', None, '-0.15'), ('gpu', 'gpu_seconds', '1800', '1.45')]))
    # m_unpaid0: lines changed, net 0, unpaid → void and replace
    eq(T + '-rerun: m_unpaid0 (net 0, unpaid): INV-8 void, INV-14 replaces it with both lines, 2.00',
       [(d['number'], d['status'], d['replaces'], d['subtotal'], lines(d)) for d in docs(e3, 'm_unpaid0')],
       [('INV-2026-000008', 'void', None, '2.00', [('serverless', 'input_tokens', '10000000', '2.00')]),
        ('INV-2026-000014', 'open', 'INV-2026-000008', '2.00',
         [('serverless', 'input_tokens', '5000000', '1.00'), ('serverless', 'output_tokens', '5000000', '1.00')])])
    eq(T + '-rerun: m_nochg and m_repl unchanged',
       [d for d in e3['invoices'] if d['account'] in ('m_nochg', 'm_repl')], [d for d in e2['invoices'] if d['account'] in ('m_nochg', 'm_repl')])

    rc, j, p = s.reconcile('2026-11-10T00:00:00Z')
    rc_is(T + ': reconcile after the rerun exit 0', p, 0)
    if j:
        eq(T + ': reconcile after the rerun: no objects/usage/ledger differences', (j['objects'], j['usage'], j['ledger']), ([], [], []))

    p = s.run('rerun', '--period', '2026-10', '--at', '2026-11-11T00:00:00Z')
    rc_is(T + ': rerun without changes exit 0', p, 0)
    eq(T + ': rerun without changes issues nothing', s.export()['invoices'], e3['invoices'])
    p = s.run('close', '--period', '2026-10', '--at', '2026-11-11T01:00:00Z')
    rc_is(T + ': close after the rerun exit 0', p, 0)
    eq(T + ': close after the rerun issues nothing (m_gone, voided, gets no new invoice)', s.export()['invoices'], e3['invoices'])

    # ---- step 3 (rerun at 2026-11-20): every later change is a correction against the effective sum
    s.write('pay2.yaml', '''payments:
  - {id: pay_late, account: m_late, amount: "1.00", paid_at: 2026-11-15T00:00:00Z, invoice: INV-2026-000011}
''')
    rc_is(T + ': import payment for m_late exit 0', s.run('accounts', 'import', os.path.join(s.d, 'pay2.yaml'), '--at', '2026-11-15T12:00:00Z'), 0)
    # m_cover: replacement (lone, credits only) changes again: 20M = 4.00 → void INV-10, replace, credits 4.00
    s.put('dt=2026-10-24/cover-late2.jsonl', [sv('c3', 'm_cover', '2026-10-24', inp=5_000_000)])
    # m_late: its invoice is paid now; +5M output → 10M = 2.00 → supplementary +1.00 correcting INV-11
    s.put('dt=2026-10-24/late2.jsonl', [sv('l2', 'm_late', '2026-10-24', out=5_000_000)])
    # m_paidcn: 15M → 10M = 2.00; effective sum 4.00 − 1.00 = 3.00 → second credit note −1.00 (−5M)
    s.put('dt=2026-10-04/paidcn.jsonl', [sv('p1c', 'm_paidcn', '2026-10-04', inp=10_000_000)])
    # m_part: +5M → 25M = 5.00; effective sum 3.00 + 1.00 = 4.00 → supplementary +1.00, no credit left
    s.put('dt=2026-10-25/part-late2.jsonl', [sv('pt3', 'm_part', '2026-10-25', inp=5_000_000)])
    p = s.run('rerun', '--period', '2026-10', '--at', '2026-11-20T00:00:00Z')
    rc_is(T + ': rerun 3 exit 0', p, 0)
    e4 = s.export()
    new = [d for d in e4['invoices'] if d['number'] not in by_number(e3)]
    eq(T + '-rerun3: new documents in account order',
       [(d['number'], d['account'], d['kind'], d['replaces'], d['corrects'], d['subtotal'], d['credits_applied'], d['amount_due'], d['status']) for d in new],
       [('INV-2026-000015', 'm_cover', 'invoice', 'INV-2026-000010', None, '4.00', '4.00', '0.00', 'paid'),
        ('INV-2026-000016', 'm_late', 'supplementary', None, 'INV-2026-000011', '1.00', '0.00', '1.00', 'open'),
        ('CN-2026-000002', 'm_paidcn', 'credit_note', None, 'INV-2026-000004', '-1.00', '0.00', '0.00', 'issued'),
        ('INV-2026-000017', 'm_part', 'supplementary', None, 'INV-2026-000005', '1.00', '0.00', '1.00', 'open')])
    eq(T + '-rerun3: m_cover replacement INV-10 voided in turn', by_number(e4)['INV-2026-000010']['status'], 'void')
    eq(T + '-rerun3: m_cover credit_balance 10.00 − 4.00 = 6.00', (std(e4, 'm_cover') or {}).get('credit_balance'), '6.00')
    eq(T + '-rerun3: m_late paid invoice INV-11 stays (paid)', by_number(e4)['INV-2026-000011']['status'], 'paid')
    eq(T + '-rerun3: second credit note lines −5000000 −1.00', lines(by_number(e4).get('CN-2026-000002', {'lines': []})),
       [('serverless', 'input_tokens', '-5000000', '-1.00')])

    # ---- step 4 (rerun in January 2027): numbering per year of issue
    # m_paidcn: 10M → 30M = 6.00; effective 4.00 − 1.00 − 1.00 = 2.00 → supplementary +4.00 (+20M). The
    # credit-note grants (granted 2026-11-10 and 11-20, not before Oct's end) are not eligible for October
    # (§11: eligible when granted_at < P.end) → credits 0.00, due 4.00
    s.put('dt=2026-10-04/paidcn.jsonl', [sv('p1d', 'm_paidcn', '2026-10-04', inp=30_000_000)])
    # m_pdisc: the 30 min removed → back to 2.90 / −0.29; effective 2.61 + 1.30 = 3.91 → credit note −1.30:
    # gpu −1800 s −1.45, discount +0.15
    s.rm('dt=2026-10-22/pdisc-late.jsonl')
    p = s.run('rerun', '--period', '2026-10', '--at', '2027-01-05T00:00:00Z')
    rc_is(T + ': rerun in January 2027 exit 0', p, 0)
    e5 = s.export()
    new = [d for d in e5['invoices'] if d['number'] not in by_number(e4)]
    eq(T + '-rerun2027: INV-2027-000001 (m_paidcn supplementary 4.00, no credits) and CN-2027-000001 (m_pdisc −1.30)',
       [(d['number'], d['account'], d['kind'], d['corrects'], d['subtotal'], d['discount'], d['credits_applied'], d['amount_due'], d['status'], d['due_at']) for d in new],
       [('INV-2027-000001', 'm_paidcn', 'supplementary', 'INV-2026-000004', '4.00', '0.00', '0.00', '4.00', 'open', '2027-01-20T00:00:00Z'),
        ('CN-2027-000001', 'm_pdisc', 'credit_note', 'INV-2026-000006', '-1.30', '0.15', '0.00', '0.00', 'issued', None)])
    cn = by_number(e5).get('CN-2027-000001')
    eq(T + '-rerun2027: CN-2027-000001 lines: discount +0.15, gpu −1800 −1.45', lines(cn) if cn else None,
       [('discount', 'discount', None, '0.15'), ('gpu', 'gpu_seconds', '-1800', '-1.45')])
    g = s.sql("SELECT kind, amount_cents, substr(granted_at,1,19), expires_at FROM grants WHERE account_id = 'm_pdisc'")
    eq(T + '-rerun2027: m_pdisc credit_note grant 1.30 at 2027-01-05, never expiring', g, [('credit_note', 130, '2027-01-05T00:00:00', None)])
    rc, j, p = s.reconcile('2027-01-05T00:00:00Z')
    rc_is(T + ': reconcile after the 2027 rerun exit 0', p, 0)
    if j:
        eq(T + ': reconcile 2027: ledger clean (numbering gapless per prefix and year)', j['ledger'], [])
    nums = s.sql("SELECT number FROM documents ORDER BY number")
    eq(T + ': every number ever issued: INV-2026 1..17, CN-2026 1..2, INV-2027 1, CN-2027 1',
       sorted(n for (n,) in nums),
       sorted(['INV-2026-%06d' % i for i in range(1, 18)] + ['CN-2026-000001', 'CN-2026-000002', 'INV-2027-000001', 'CN-2027-000001']))
    eff = s.sql("SELECT account_id, count(*) FROM documents WHERE period='2026-10' AND kind='invoice' AND voided_at IS NULL GROUP BY account_id")
    eq(T + ': one effective invoice per account (m_gone none)', sorted(eff),
       sorted([(a, 1) for a in ('m_cover', 'm_late', 'm_nochg', 'm_paidcn', 'm_part', 'm_pdisc', 'm_repl', 'm_unpaid0')]))

    # ---- November: the credit-note grants are usable for the next period's invoice (granted_at < Dec 1)
    # m_paidcn November: 10M input = 2.00; CN grants 1.00 + 1.00 (granted Nov 10, Nov 20, < Dec 1) → credits 2.00
    s.put('dt=2026-11-03/paidcn-nov.jsonl', [sv('pn1', 'm_paidcn', '2026-11-03', inp=10_000_000)])
    p = s.run('close', '--period', '2026-11', '--at', '2027-01-06T00:00:00Z')
    rc_is(T + ': close of 2026-11 (after 2027 began) exit 0', p, 0)
    en = s.export('2026-11')
    eq(T + '-nov: m_paidcn November invoice INV-2027-000002 (issued in 2027), 2.00 paid by the credit notes\' grants',
       [(d['number'], d['subtotal'], d['credits_applied'], d['amount_due'], d['status']) for d in en['invoices']],
       [('INV-2027-000002', '2.00', '2.00', '0.00', 'paid')])
    return s


# =====================================================================================================
# Scenario B: net change 0 on a paid invoice; payment on a void invoice; the rerun's --at; a replacement
# that gets paid is corrected, not voided
# =====================================================================================================
def scenario_b():
    s = Scen('b_netzero')
    T = 'B'
    s.write('accounts.yaml', '''accounts:
  - {id: n_paid, name: Net Zero Paid, email: a@x.test, payment_method: true}
  - {id: n_repl, name: Replacement Paid, email: a@x.test, payment_method: true}
''')
    # n_paid: 10M input = 2.00 ; n_repl: 5M input = 1.00
    s.put('dt=2026-10-05/a.jsonl', [sv('a1', 'n_paid', '2026-10-05', inp=10_000_000), sv('b1', 'n_repl', '2026-10-05', inp=5_000_000)])
    rc_is(T + ': close exit 0', s.run('close', '--period', '2026-10', '--at', CLOSE_AT, '--accounts', os.path.join(s.d, 'accounts.yaml')), 0)
    s.write('pay.yaml', '''payments:
  - {id: pay_n, account: n_paid, amount: "2.00", paid_at: 2026-11-03T00:00:00Z, invoice: INV-2026-000001}
''')
    rc_is(T + ': import exit 0', s.run('accounts', 'import', os.path.join(s.d, 'pay.yaml'), '--at', '2026-11-03T12:00:00Z'), 0)
    e1 = s.export()
    # n_paid: 5M in + 5M out = 1.00 + 1.00 = 2.00: lines changed, net 0, paid → no document, shown in the diff
    # n_repl: +5M = 2.00, unpaid → void INV-2, replacement INV-3
    s.put('dt=2026-10-05/a.jsonl', [sv('a1b', 'n_paid', '2026-10-05', inp=5_000_000, out=5_000_000), sv('b1', 'n_repl', '2026-10-05', inp=5_000_000)])
    s.put('dt=2026-10-06/b.jsonl', [sv('b2', 'n_repl', '2026-10-06', inp=5_000_000)])
    # --at before the documents were issued is refused (exit 1), nothing changes
    d0 = s.dump()
    p = s.run('rerun', '--period', '2026-10', '--at', '2026-10-31T00:00:00Z')
    rc_is(T + ': rerun with --at before the invoices were issued exit 1', p, 1)
    eq(T + ': that rerun changed no document', s.export()['invoices'], e1['invoices'])
    p = s.run('rerun', '--period', '2026-10', '--at', '2026-11-05T00:00:00Z')
    rc_is(T + ': rerun exit 0', p, 0)
    ck(T + ': rerun output reports n_paid\'s net-0 change (old 2.00, new 2.00, delta 0.00)',
       any(l.strip().startswith('n_paid') and 'old 2.00' in l and 'new 2.00' in l and 'delta 0.00' in l for l in p.stdout.splitlines()), p.stdout)
    e2 = s.export()
    eq(T + ': n_paid (paid, net 0): no document', [d['number'] for d in docs(e2, 'n_paid')], ['INV-2026-000001'])
    eq(T + ': n_repl replaced: INV-2 void, INV-3 replaces it',
       [(d['number'], d['status'], d['replaces']) for d in docs(e2, 'n_repl')],
       [('INV-2026-000002', 'void', None), ('INV-2026-000003', 'open', 'INV-2026-000002')])
    rc, j, p = s.reconcile('2026-11-05T00:00:00Z')
    rc_is(T + ': reconcile after a paid net-0 change exit 4 (line drift stays: "anything disagrees")', p, 4)
    # customer pays the void number INV-2 (1.00) and the replacement INV-3 in part (0.50)
    s.write('pay2.yaml', '''payments:
  - {id: pay_void, account: n_repl, amount: "1.00", paid_at: 2026-11-06T00:00:00Z, invoice: INV-2026-000002}
  - {id: pay_r, account: n_repl, amount: "0.50", paid_at: 2026-11-06T00:00:00Z, invoice: INV-2026-000003}
''')
    rc_is(T + ': import 2 exit 0', s.run('accounts', 'import', os.path.join(s.d, 'pay2.yaml'), '--at', '2026-11-06T12:00:00Z'), 0)
    rc, j, p = s.reconcile('2026-11-07T00:00:00Z')
    if j:
        eq(T + ': reconcile lists the payment of the void INV-2 as overpaid (due 0.00, paid 1.00)',
           [(x['number'], x['amount_due'], x['amount_paid']) for x in j['overpaid']], [('INV-2026-000002', '0.00', '1.00')])
    # the replacement is now (partly) paid: a change is a correction, not a void: +5M = 3.00 → supplementary +1.00
    s.put('dt=2026-10-07/c.jsonl', [sv('b3', 'n_repl', '2026-10-07', inp=5_000_000)])
    p = s.run('rerun', '--period', '2026-10', '--at', '2026-11-08T00:00:00Z', '--account', 'n_repl')
    rc_is(T + ': rerun 2 exit 0', p, 0)
    e3 = s.export()
    eq(T + ': part-paid replacement corrected by a supplementary INV-4 (+1.00) that corrects INV-3',
       [(d['number'], d['kind'], d['status'], d['corrects'], d['subtotal']) for d in docs(e3, 'n_repl')],
       [('INV-2026-000002', 'invoice', 'void', None, '1.00'), ('INV-2026-000003', 'invoice', 'open', None, '2.00'),
        ('INV-2026-000004', 'supplementary', 'open', 'INV-2026-000003', '1.00')])


# =====================================================================================================
# Scenario C: exit codes (§10) and locks (§8)
# =====================================================================================================
def scenario_c():
    s = Scen('c_exit')
    T = 'C'
    s.write('accounts.yaml', '''accounts:
  - {id: x_a, name: A, email: a@x.test, payment_method: true}
''')
    s.put('dt=2026-09-10/a.jsonl', [sv('s1', 'x_a', '2026-09-10', inp=5_000_000)])
    s.put('dt=2026-10-10/a.jsonl', [sv('o1', 'x_a', '2026-10-10', inp=5_000_000)])
    rc_is(T + ': close 2026-10 exit 0', s.run('close', '--period', '2026-10', '--at', CLOSE_AT, '--accounts', os.path.join(s.d, 'accounts.yaml')), 0)
    e0 = s.export()
    # 2: bad usage
    rc_is(T + ': rerun without --period exit 2', s.run('rerun', '--at', '2026-11-05T00:00:00Z'), 2)
    rc_is(T + ': rerun --period 2026-13 exit 2', s.run('rerun', '--period', '2026-13', '--at', '2026-11-05T00:00:00Z'), 2)
    rc_is(T + ': rerun --account unknown exit 2', s.run('rerun', '--period', '2026-10', '--at', '2026-11-05T00:00:00Z', '--account', 'nobody'), 2)
    rc_is(T + ': rerun with a stray word exit 2', s.run('rerun', '--period', '2026-10', 'x_a', '--at', '2026-11-05T00:00:00Z'), 2)
    rc_is(T + ': reconcile without --period exit 2', s.run('reconcile', '--at', '2026-11-05T00:00:00Z'), 2)
    rc_is(T + ': reconcile --format csv exit 2', s.run('reconcile', '--period', '2026-10', '--format', 'csv'), 2)
    rc_is(T + ': rerun --at garbage exit 2', s.run('rerun', '--period', '2026-10', '--at', 'yesterday'), 2)
    # 3: rejects over --max-rejects (a late object with a bad line and a good line)
    s.put('dt=2026-10-20/bad.jsonl', ['{not json', json.dumps(sv('o2', 'x_a', '2026-10-20', inp=5_000_000))])
    d0 = s.dump()
    rc_is(T + ': rerun --dry-run with 1 reject, --max-rejects 0 exit 3', s.run('rerun', '--period', '2026-10', '--at', '2026-11-05T00:00:00Z', '--dry-run'), 3)
    rc_is(T + ': rerun with 1 reject exit 3', s.run('rerun', '--period', '2026-10', '--at', '2026-11-05T00:00:00Z'), 3)
    eq(T + ': rerun stopped by rejects issued nothing', s.export()['invoices'], e0['invoices'])
    ck(T + ': rerun stopped by rejects wrote rejects.csv', os.path.exists(os.path.join(s.out, '2026-10', 'rejects.csv')))
    rc, j, p = s.reconcile('2026-11-05T00:00:00Z')
    rc_is(T + ': reconcile with a new object (with a reject) exit 4', p, 4)
    p = s.run('rerun', '--period', '2026-10', '--at', '2026-11-05T00:00:00Z', '--max-rejects', '1')
    rc_is(T + ': rerun with --max-rejects 1 exit 0', p, 0)
    # 1.00 + 1.00 (o2) = 2.00: unpaid lone original → void + replace
    eq(T + ': rerun with --max-rejects 1 replaced the invoice (2.00)', [(d['number'], d['status'], d['subtotal']) for d in s.export()['invoices']],
       [('INV-2026-000001', 'void', '1.00'), ('INV-2026-000002', 'open', '2.00')])
    rc, j, p = s.reconcile('2026-11-05T00:00:00Z')
    rc_is(T + ': reconcile after that rerun exit 0 (the reject was recorded by the run)', p, 0)
    # 1: corrupt object
    os.makedirs(os.path.join(s.d, 'usage', 'dt=2026-10-21'), exist_ok=True)
    with open(os.path.join(s.d, 'usage', 'dt=2026-10-21', 'z.jsonl.gz'), 'wb') as f:
        f.write(gzip.compress(b'{"id":"q"}\n' * 100)[:40])
    rc_is(T + ': rerun with a truncated gzip object exit 1', s.run('rerun', '--period', '2026-10', '--at', '2026-11-06T00:00:00Z'), 1)
    rc_is(T + ': reconcile with a truncated gzip object exit 1', s.reconcile('2026-11-06T00:00:00Z')[2], 1)
    os.remove(os.path.join(s.d, 'usage', 'dt=2026-10-21', 'z.jsonl.gz'))

    # 5: locks. Another process (a live `sleep`) holds the lease of 2026-10.
    sl = subprocess.Popen(['sleep', '120'])
    host = socket.gethostname()
    c = sqlite3.connect(s.dbpath)
    c.execute("INSERT OR REPLACE INTO run_locks (key, holder, expires_at) VALUES ('period:2026-10', ?, '2099-01-01T00:00:00.000000000Z')",
              ('%s/%d/abcdefgh' % (host, sl.pid),))
    c.commit(); c.close()
    rc_is(T + ': rerun while another run holds the period exit 5', s.run('rerun', '--period', '2026-10', '--at', '2026-11-07T00:00:00Z'), 5)
    rc_is(T + ': close while another run holds the period exit 5', s.run('close', '--period', '2026-10', '--at', '2026-11-07T00:00:00Z'), 5)
    rc_is(T + ': reconcile while another run holds the period exit 5', s.reconcile('2026-11-07T00:00:00Z')[2], 5)
    rc_is(T + ': export --wait=false while another run holds the period exit 5',
          s.run('export', '--period', '2026-10', '--format', 'json', '--wait=false'), 5)
    rc_is(T + ': close of another period (2026-09) is not blocked: exit 0', s.run('close', '--period', '2026-09', '--at', '2026-11-07T00:00:00Z'), 0)
    eq(T + ': the 2026-09 close issued its invoice (INV-2026-000003, 1.00)',
       [(d['number'], d['subtotal']) for d in s.export('2026-09')['invoices']], [('INV-2026-000003', '1.00')])
    # --wait: waits while the holder lives, proceeds once it is gone
    s.put('dt=2026-10-22/w.jsonl', [sv('o3', 'x_a', '2026-10-22', inp=5_000_000)])
    pr = s.run('rerun', '--period', '2026-10', '--at', '2026-11-08T00:00:00Z', '--wait', '--max-rejects', '1', wait=False)
    time.sleep(2.0)
    ck(T + ': rerun --wait is still waiting while the lock is held', pr.poll() is None, 'rc=%s' % pr.poll())
    sl.send_signal(signal.SIGTERM); sl.wait()
    try:
        out, err = pr.communicate(timeout=60)
        rc_is(T + ': rerun --wait proceeds once the holder is gone: exit 0', pr.returncode, 0)
    except subprocess.TimeoutExpired:
        pr.kill(); ck(T + ': rerun --wait proceeds once the holder is gone', False, 'timeout')
    # 2.00 + 1.00 (o3) = 3.00 (the 2026-09 close took INV-3): INV-2 void, INV-4 replaces it
    eq(T + ': the waiting rerun replaced INV-2 by INV-4 (3.00)',
       [(d['number'], d['status'], d['replaces'], d['subtotal']) for d in s.export()['invoices']][1:],
       [('INV-2026-000002', 'void', 'INV-2026-000001', '2.00'), ('INV-2026-000004', 'open', 'INV-2026-000002', '3.00')])
    eq(T + ': lock released after the run', s.sql("SELECT count(*) FROM run_locks WHERE key='period:2026-10'"), [(0,)])
    # two real runs at once on the same period: one of them exits 5 or both succeed in turn (never both write)
    s.put('dt=2026-10-23/w.jsonl', [sv('o4', 'x_a', '2026-10-23', inp=5_000_000)])
    procs = [s.run('rerun', '--period', '2026-10', '--at', '2026-11-09T00:00:00Z', '--max-rejects', '1', wait=False) for _ in range(2)]
    rcs = sorted(pp.wait() for pp in procs)
    ck(T + ': two concurrent reruns: exit codes in {0,5}', set(rcs) <= {0, 5}, rcs)
    # 3.00 + 1.00 (o4) = 4.00: INV-4 void, INV-5 replaces it, once
    eq(T + ': two concurrent reruns correct once: INV-4 void, INV-5 (4.00) replaces it',
       [(d['number'], d['status'], d['replaces'], d['subtotal']) for d in s.export()['invoices']][2:],
       [('INV-2026-000004', 'void', 'INV-2026-000002', '3.00'), ('INV-2026-000005', 'open', 'INV-2026-000004', '4.00')])


# =====================================================================================================
# Scenario D: crash safety of close (kill -9 at several points, then close again)
# =====================================================================================================
def scenario_d(gen):
    T = 'D'
    ref = Scen('d_ref')
    if subprocess.run([gen, '-events', '60000', '-accounts', '400', '-accounts-out', os.path.join(ref.d, 'accounts.yaml'),
                       '-out', os.path.join(ref.d, 'usage'), '-period', '2026-10'], capture_output=True).returncode != 0:
        ck(T + ': generate usage', False, 'gen failed')
        return
    acc = os.path.join(ref.d, 'accounts.yaml')
    t0 = time.time()
    rc_is(T + ': reference close exit 0', ref.run('close', '--period', '2026-10', '--at', CLOSE_AT, '--accounts', acc, '--max-rejects', '1000000'), 0)
    dur = time.time() - t0
    want = [(d['number'], d['account'], d['subtotal'], d['credits_applied'], d['amount_due']) for d in ref.export()['invoices']]
    s = Scen('d_crash')
    shutil.rmtree(os.path.join(s.d, 'usage'))
    shutil.copytree(os.path.join(ref.d, 'usage'), os.path.join(s.d, 'usage'))
    rc_is(T + ': import accounts exit 0', s.run('accounts', 'import', acc, '--at', '2026-10-01T00:00:00Z'), 0)
    kills, seen = 0, []
    for frac in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        pr = s.run('close', '--period', '2026-10', '--at', CLOSE_AT, '--max-rejects', '1000000', wait=False)
        time.sleep(dur * frac)
        if pr.poll() is None:
            pr.send_signal(signal.SIGKILL); kills += 1
        pr.communicate()
        seen.append(len(s.sql("SELECT number FROM documents")))
    print('   (documents after each kill: %s of %d)' % (seen, len(want)))
    n_before = seen[-1]
    rc_is(T + ': close after %d kill -9 (%d documents issued by then) exit 0' % (kills, n_before),
          s.run('close', '--period', '2026-10', '--at', CLOSE_AT, '--max-rejects', '1000000'), 0)
    got = [(d['number'], d['account'], d['subtotal'], d['credits_applied'], d['amount_due']) for d in s.export()['invoices']]
    eq(T + ': after crashes and a retry: the same documents, numbers, amounts and credits as an uninterrupted close', got, want)
    rc, j, p = s.reconcile('2026-11-02T00:00:00Z')
    rc_is(T + ': reconcile after the crashed closes exit 0', p, 0)


# =====================================================================================================
# Scenario E: paid invoice whose usage disappears; quantity-only change; a never-closed period rerun;
# dry-run scoped; ledger checks of reconcile on a tampered ledger
# =====================================================================================================
def scenario_e():
    s = Scen('e_edges')
    T = 'E'
    s.write('accounts.yaml', '''accounts:
  - {id: e_gonepaid, name: Gone Paid, email: a@x.test, payment_method: true}
  - {id: e_tinyp, name: Tiny Paid, email: a@x.test, payment_method: true}
  - {id: e_tinyu, name: Tiny Unpaid, email: a@x.test, payment_method: true}
''')
    # e_gonepaid 10M input = 2.00 ; e_tinyu / e_tinyp 10M input = 2.00
    s.put('dt=2026-10-05/gp.jsonl', [sv('gp1', 'e_gonepaid', '2026-10-05', inp=10_000_000)])
    s.put('dt=2026-10-05/t.jsonl', [sv('tu1', 'e_tinyu', '2026-10-05', inp=10_000_000), sv('tp1', 'e_tinyp', '2026-10-05', inp=10_000_000)])
    rc_is(T + ': close exit 0', s.run('close', '--period', '2026-10', '--at', CLOSE_AT, '--accounts', os.path.join(s.d, 'accounts.yaml')), 0)
    # INV-1 e_gonepaid, INV-2 e_tinyp, INV-3 e_tinyu
    s.write('pay.yaml', '''payments:
  - {id: pay_gp, account: e_gonepaid, amount: "2.00", paid_at: 2026-11-03T00:00:00Z, invoice: INV-2026-000001}
  - {id: pay_tp, account: e_tinyp, amount: "2.00", paid_at: 2026-11-03T00:00:00Z, invoice: INV-2026-000002}
''')
    rc_is(T + ': import exit 0', s.run('accounts', 'import', os.path.join(s.d, 'pay.yaml'), '--at', '2026-11-03T12:00:00Z'), 0)
    s.rm('dt=2026-10-05/gp.jsonl')
    # +1 token each: 10,000,001 × 0.20 / 1M = 2.0000002 → 2.00: quantity changed, amount not: "changed", net 0
    s.put('dt=2026-10-06/t2.jsonl', [sv('tu2', 'e_tinyu', '2026-10-06', inp=1), sv('tp2', 'e_tinyp', '2026-10-06', inp=1)])
    # dry run scoped to one account shows only it
    p = s.run('rerun', '--period', '2026-10', '--at', '2026-11-05T00:00:00Z', '--dry-run', '--account', 'e_tinyu')
    rc_is(T + ': rerun --dry-run --account e_tinyu exit 0', p, 0)
    ck(T + ': dry-run --account shows e_tinyu and no other account',
       'e_tinyu' in p.stdout and 'e_gonepaid' not in p.stdout and 'e_tinyp' not in p.stdout, p.stdout)
    p = s.run('rerun', '--period', '2026-10', '--at', '2026-11-05T00:00:00Z')
    rc_is(T + ': rerun exit 0', p, 0)
    e = s.export()
    # e_gonepaid: paid, usage gone → credit note −2.00 (−10M), grant 2.00; the paid original stays
    eq(T + ': paid invoice whose usage disappeared: credit note −2.00 correcting it',
       [(d['number'], d['kind'], d['status'], d['corrects'], d['subtotal'], lines(d)) for d in docs(e, 'e_gonepaid')],
       [('INV-2026-000001', 'invoice', 'paid', None, '2.00', [('serverless', 'input_tokens', '10000000', '2.00')]),
        ('CN-2026-000001', 'credit_note', 'issued', 'INV-2026-000001', '-2.00', [('serverless', 'input_tokens', '-10000000', '-2.00')])])
    eq(T + ': its credit_note grant 2.00', s.sql("SELECT kind, amount_cents FROM grants WHERE account_id='e_gonepaid'"), [('credit_note', 200)])
    # e_tinyp: paid, quantity changed, net 0 → no document
    eq(T + ': paid, quantity-only change (net 0): no document', [d['number'] for d in docs(e, 'e_tinyp')], ['INV-2026-000002'])
    # e_tinyu: unpaid, quantity changed, net 0 → void and replace (INV-4, 10000001 tokens, 2.00)
    eq(T + ': unpaid, quantity-only change (net 0): void and replace',
       [(d['number'], d['status'], d['replaces'], d['subtotal'], lines(d)) for d in docs(e, 'e_tinyu')],
       [('INV-2026-000003', 'void', None, '2.00', [('serverless', 'input_tokens', '10000000', '2.00')]),
        ('INV-2026-000004', 'open', 'INV-2026-000003', '2.00', [('serverless', 'input_tokens', '10000001', '2.00')])])

    # a period never closed: rerun issues the invoices; a close afterwards issues nothing
    # December: e_tinyu 5M input = 1.00 → INV-2026-000005
    s.put('dt=2026-12-05/dec.jsonl', [sv('dec1', 'e_tinyu', '2026-12-05', inp=5_000_000)])
    p = s.run('rerun', '--period', '2026-12', '--at', '2027-01-01T03:00:00Z')
    rc_is(T + ': rerun of a never-closed period exit 0', p, 0)
    ed = s.export('2026-12')
    # issued 2027-01-01 → numbered in the 2027 series: INV-2027-000001
    eq(T + ': rerun of a never-closed period issues an invoice (INV-2027-000001, 1.00)',
       [(d['number'], d['kind'], d['replaces'], d['subtotal']) for d in ed['invoices']], [('INV-2027-000001', 'invoice', None, '1.00')])
    rc_is(T + ': close of that period after the rerun exit 0', s.run('close', '--period', '2026-12', '--at', '2027-01-01T04:00:00Z'), 0)
    eq(T + ': that close issues nothing', s.export('2026-12')['invoices'], ed['invoices'])

    # ledger checks on a tampered copy of the ledger
    rc, j, p = s.reconcile('2026-11-06T00:00:00Z')
    rc_is(T + ': reconcile before tampering: exit 4 (e_tinyp\'s net-0 drift stays)', p, 4)
    if j:
        eq(T + ': reconcile before tampering: ledger clean', j['ledger'], [])
    shutil.copy(s.dbpath, s.dbpath + '.orig')
    c = sqlite3.connect(s.dbpath)
    c.execute("UPDATE documents SET subtotal_cents = subtotal_cents + 1, amount_due_cents = amount_due_cents + 1 WHERE number = 'INV-2026-000004'")
    c.commit(); c.close()
    rc, j, p = s.reconcile('2026-11-06T00:00:00Z')
    ck(T + ': reconcile finds a subtotal that is not the sum of its lines (lines_sum)',
       j is not None and any(x['check'] == 'lines_sum' and x['subject'] == 'INV-2026-000004' for x in j['ledger']), j and j['ledger'])
    shutil.copy(s.dbpath + '.orig', s.dbpath)
    c = sqlite3.connect(s.dbpath)
    c.execute("UPDATE documents SET number = 'INV-2026-000009' WHERE number = 'INV-2026-000004'")
    c.commit(); c.close()
    rc, j, p = s.reconcile('2026-11-06T00:00:00Z')
    ck(T + ': reconcile finds a gap in the numbering',
       j is not None and any(x['check'] == 'numbering' for x in j['ledger']), j and j['ledger'])
    shutil.copy(s.dbpath + '.orig', s.dbpath)
    c = sqlite3.connect(s.dbpath)
    # credits applied with no consumption behind them (the database itself refuses a second effective
    # invoice per account and period, so that check cannot be provoked from outside)
    c.execute("UPDATE documents SET credits_applied_cents = 50, amount_due_cents = amount_due_cents - 50 WHERE number = 'INV-2026-000004'")
    c.commit(); c.close()
    rc, j, p = s.reconcile('2026-11-06T00:00:00Z')
    ck(T + ': reconcile finds credits applied that no grant consumption backs (credits)',
       j is not None and any(x['check'] == 'credits' and x['subject'] == 'INV-2026-000004' for x in j['ledger']), j and j['ledger'])
    shutil.copy(s.dbpath + '.orig', s.dbpath)


# =====================================================================================================
# Scenario F: the day after the period (dt = P.end): next month's lines are not P's drift; a GPU interval
# overlapping P is
# =====================================================================================================
def scenario_f():
    s = Scen('f_dayafter')
    T = 'F'
    s.write('accounts.yaml', '''accounts:
  - {id: f_a, name: F, email: a@x.test, payment_method: true}
''')
    s.put('dt=2026-10-05/a.jsonl', [sv('f1', 'f_a', '2026-10-05', inp=5_000_000)])   # 1.00
    rc_is(T + ': close exit 0', s.run('close', '--period', '2026-10', '--at', CLOSE_AT, '--accounts', os.path.join(s.d, 'accounts.yaml')), 0)
    s.put('dt=2026-11-01/nov.jsonl', [sv('f2', 'f_a', '2026-11-01', inp=5_000_000, hour=3)])
    rc, j, p = s.reconcile('2026-11-02T00:00:00Z')
    rc_is(T + ': a November-only object in dt=2026-11-01 is not October drift: reconcile exit 0', p, 0)
    # A100 23:30 → 00:10: October's part 23:30–24:00 = 1800 GPU-s × 2.90 / 3600 = 1.45
    s.put('dt=2026-11-01/gpu.jsonl', [gpu('f3', 'f_a', 'dx', '2026-10-31T23:30:00Z', '2026-11-01T00:10:00Z')])
    rc, j, p = s.reconcile('2026-11-02T00:00:00Z')
    rc_is(T + ': a GPU interval overlapping October reported in dt=2026-11-01: reconcile exit 4', p, 4)
    if j:
        eq(T + ': ... object added and usage gpu 0 → 1800, 0.00 → 1.45',
           ([(o['key'].split('usage/')[-1], o['change']) for o in j['objects']],
            [(u['meter'], u['invoiced_quantity'], u['rated_quantity'], u['rated_amount']) for u in j['usage']]),
           ([('dt=2026-11-01/gpu.jsonl', 'added')], [('gpu_seconds', '0', '1800', '1.45')]))
    rc_is(T + ': rerun exit 0', s.run('rerun', '--period', '2026-10', '--at', '2026-11-02T00:00:00Z'), 0)
    e = s.export()
    eq(T + ': replacement bills 1.00 + 1.45 = 2.45',
       [(d['number'], d['status'], d['replaces'], d['subtotal']) for d in e['invoices']],
       [('INV-2026-000001', 'void', None, '1.00'), ('INV-2026-000002', 'open', 'INV-2026-000001', '2.45')])
    rc, j, p = s.reconcile('2026-11-02T00:00:00Z')
    rc_is(T + ': reconcile after the rerun exit 0', p, 0)


if __name__ == '__main__':
    gen = sys.argv[4] if len(sys.argv) > 4 else ''
    for f in (scenario_a, scenario_b, scenario_c, scenario_e, scenario_f):
        try:
            f()
        except Exception as ex:  # a crash of the checker is a failure, not a silent skip
            import traceback
            traceback.print_exc()
            ck('%s: scenario ran to the end' % f.__name__, False, repr(ex))
    if gen:
        try:
            scenario_d(gen)
        except Exception as ex:
            import traceback
            traceback.print_exc()
            ck('scenario_d: ran to the end', False, repr(ex))
    npass = sum(1 for _, ok in RESULTS if ok)
    print('\n== %d checks, %d passed, %d failed' % (len(RESULTS), npass, len(RESULTS) - npass))
    for n, ok in RESULTS:
        if not ok:
            print('FAIL ' + n)
    sys.exit(0 if npass == len(RESULTS) else 1)
