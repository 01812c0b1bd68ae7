"""Writes the small rerun scenario's accounts and usage (DESIGN §3, §6) into DIR."""
import json, os, sys
D = sys.argv[1]
LLM = 'accounts/fireworks/models/llama-v3p1-8b-instruct'


def w(rel, events, raw_lines=()):
    p = os.path.join(D, 'usage', rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, 'w') as f:
        for e in events:
            f.write(json.dumps(e) + '\n')
        for l in raw_lines:
            f.write(l + '\n')


def sv(i, acct, day, inp, out=0, ts='T12:00:00Z'):
    return {'id': i, 'ts': day + ts, 'account': acct, 'type': 'serverless', 'model': LLM,
            'input_tokens': inp, 'output_tokens': out}


def gpu(i, acct, dep, typ, n, start, end):
    return {'id': i, 'ts': end, 'account': acct, 'type': 'gpu', 'deployment': dep, 'gpu_type': typ,
            'gpu_count': n, 'start': start, 'end': end}


def main():
    what = sys.argv[2]
    if what == 'base':
        open(os.path.join(D, 'accounts.yaml'), 'w').write('''accounts:
  - {id: a_cn, name: "CN Co", email: a@cn.test, payment_method: true}
  - {id: a_credit, name: "Credit Co", email: a@c.test, payment_method: true,
     credits: [{id: g_credit, kind: free, amount: "5.00", granted_at: "2026-09-01T00:00:00Z", expires_at: null}]}
  - {id: a_disc, name: "=SUM(1,2)", email: a@d.test, payment_method: true,
     contracts: [{on_demand_discount_percent: "10", from: 2026-01-01, to: 2027-01-01}]}
  - {id: a_none, name: "+None Co", email: a@n.test, payment_method: false}
  - {id: a_paid, name: "@Paid Co", email: a@p.test, payment_method: true}
  - {id: a_pdisc, name: "Paid Discount Co", email: a@pd.test, payment_method: true,
     contracts: [{on_demand_discount_percent: "10", from: 2026-01-01, to: 2027-01-01}]}
  - {id: a_unpaid, name: "-Unpaid Co", email: a@u.test, payment_method: true}
''')
        w('dt=2026-10-05/a_unpaid.jsonl', [
            sv('u1', 'a_unpaid', '2026-10-05', 10000000, 10000000),
            gpu('u2', 'a_unpaid', '=evil()', 'H100-80GB', 2, '2026-10-05T10:00:00Z', '2026-10-05T11:00:00Z')])
        w('dt=2026-10-05/a_paid.jsonl', [
            sv('p1', 'a_paid', '2026-10-05', 5000000, 5000000),
            {'id': 'p2', 'ts': '2026-10-05T13:00:00Z', 'account': 'a_paid', 'type': 'fine_tuning', 'job': '-job1',
             'base_model': LLM, 'training_tokens': 2000000, 'epochs': 2, 'method': 'lora_dpo'}])
        w('dt=2026-10-06/a_cn.jsonl', [sv('c1', 'a_cn', '2026-10-06', 10000000)])
        w('dt=2026-10-07/a_cn_extra.jsonl', [sv('c2', 'a_cn', '2026-10-07', 10000000)])
        w('dt=2026-10-08/a_credit.jsonl', [sv('k1', 'a_credit', '2026-10-08', 50000000)])
        w('dt=2026-10-09/a_disc.jsonl', [
            sv('d1', 'a_disc', '2026-10-09', 1000000),
            gpu('d2', 'a_disc', '@dep', 'A100-80GB', 1, '2026-10-09T01:00:00Z', '2026-10-09T02:00:00Z')])
        w('dt=2026-10-09/a_pdisc.jsonl', [
            gpu('pd1', 'a_pdisc', 'dep-pd', 'A100-80GB', 1, '2026-10-09T01:00:00Z', '2026-10-09T02:00:00Z')])
        open(os.path.join(D, 'usage', 'README.md'), 'w').write('not usage\n')
    elif what == 'bad':
        w('dt=2026-10-10/bad.jsonl', [
            sv('=1+2', '@nobody', '2026-10-10', 5),
            sv('-neg', 'a_paid', '2026-10-10', -5),
        ], raw_lines=['{not json', '   '])
    elif what == 'late':
        w('dt=2026-10-20/late.jsonl', [sv('l1', 'a_unpaid', '2026-10-20', 5000000), sv('l2', 'a_paid', '2026-10-20', 5000000),
                                      gpu('pd2', 'a_pdisc', 'dep-pd', 'A100-80GB', 1, '2026-10-20T01:00:00Z', '2026-10-20T02:00:00Z')])
        os.remove(os.path.join(D, 'usage', 'dt=2026-10-07', 'a_cn_extra.jsonl'))
    elif what == 'late2':
        w('dt=2026-10-21/late2.jsonl', [sv('l3', 'a_unpaid', '2026-10-21', 5000000)])
        os.remove(os.path.join(D, 'usage', 'dt=2026-10-09', 'a_disc.jsonl'))
    elif what == 'payments':
        open(os.path.join(D, 'payments.yaml'), 'w').write('''payments:
  - {id: pay_paid, account: a_paid, amount: "%s", paid_at: 2026-11-05T00:00:00Z, invoice: %s}
  - {id: pay_cn, account: a_cn, amount: "%s", paid_at: 2026-11-05T00:00:00Z, invoice: %s}
  - {id: pay_pdisc, account: a_pdisc, amount: "%s", paid_at: 2026-11-05T00:00:00Z, invoice: %s}
''' % tuple(sys.argv[3:9]))


main()
