"""Expectation checker for acceptance/rating_check.sh (python3 standard library only).

    python3 rating_check.py expect DIR < DSL

DIR holds what the shell runner left: rate.json / rate.rc (billrun rate --format json), and after a close
close.rc, out/P/invoices.json, out/P/rejects.csv, out/P/billrun-P.xlsx. The DSL is one check per line;
'#' starts a comment (the hand arithmetic). Forms:

    rc N                                    exit code of rate
    closerc N                               exit code of close
    ninv N                                  number of (draft) invoices
    inv ACCT field=value ...                subtotal, discount, credits_applied, amount_due, status (exact strings)
    cinv ACCT field=value ...               the same on the close's invoices.json
    noinv ACCT                              no invoice for ACCT
    nlines ACCT N
    line ACCT kind=K product=P meter=M [deployment=D] [price=U] qty=Q amount=A [desc~=S]
                                            exactly one line matches the key fields (price compared as a
                                            decimal); qty and amount compared as exact strings
    noline ACCT kind=K product=P meter=M [price=U]
    count key=value ...                     counts.key (rejects_by_code.CODE, meters.METER allowed;
                                            value '-' means absent or 0)
    nrejects N                              data rows of the close's rejects.csv
    reject line=N code=C [object=O] [id=I]  a rejects.csv row
    grant ACCT GRANT consumed=X             the close workbook's Credits sheet
    tieout                                  every document: lines sum to subtotal, subtotal - credits = due,
                                            discount = sum of discount lines
Prints PASS/FAIL per check; appends 'P' or 'F' per check to DIR/../results.
"""
import csv, json, os, sys
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

D = None
TAG = ''
RES = None


def out(ok, name, detail=''):
    print(('PASS ' if ok else 'FAIL ') + TAG + ': ' + name + ('' if ok else '  -- ' + detail))
    RES.write('P' if ok else 'F')


def load(name):
    p = os.path.join(D, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def rc(name):
    p = os.path.join(D, name)
    return open(p).read().strip() if os.path.exists(p) else None


def parse_kv(toks):
    kv = {}
    for t in toks:
        if '~=' in t:
            k, v = t.split('~=', 1)
            kv[k + '~'] = v
        else:
            k, v = t.split('=', 1)
            kv[k] = v
    return kv


def invoices(doc, acct):
    return [i for i in (doc or {}).get('invoices', []) if i['account'] == acct and i.get('status') != 'void']


def one_inv(doc, acct, what):
    inv = invoices(doc, acct)
    if len(inv) != 1:
        out(False, what, '%d invoices for %s' % (len(inv), acct))
        return None
    return inv[0]


def match(line, kv):
    for k, v in kv.items():
        if k in ('qty', 'amount', 'desc~'):
            continue
        if k == 'price':
            if line.get('unit_price') is None or Decimal(line['unit_price']) != Decimal(v):
                return False
        elif line.get(k) != v:
            return False
    return True


def lines_desc(inv):
    return '; '.join('%s/%s/%s/%s@%s q=%s a=%s' % (l.get('kind'), l.get('product'), l.get('deployment', ''), l.get('meter'),
                                                    l.get('unit_price'), l.get('quantity'), l.get('amount')) for l in inv['lines'])


def grants_sheet():
    import xlsxread
    for f in os.listdir(os.path.join(D, 'out')):
        p = os.path.join(D, 'out', f, 'billrun-%s.xlsx' % f)
        if os.path.exists(p):
            wb = xlsxread.Workbook(p)
            return wb.sheet('Credits').table()
    return None


def main():
    global D, TAG, RES
    D = sys.argv[2]
    TAG = os.path.basename(D.rstrip('/'))
    RES = open(os.path.join(D, '..', 'results'), 'a')
    rate = load('rate.json')
    closed = None
    for sub in (os.listdir(os.path.join(D, 'out')) if os.path.isdir(os.path.join(D, 'out')) else []):
        p = os.path.join(D, 'out', sub, 'invoices.json')
        if os.path.exists(p):
            closed = json.load(open(p))
    for raw in sys.stdin:
        text = raw.split('#', 1)[0].strip()
        if not text:
            continue
        t = text.split()
        op, args = t[0], t[1:]
        if op == 'rc':
            got = rc('rate.rc')
            out(got == args[0], 'rate exit %s' % args[0], 'got %s' % got)
        elif op == 'closerc':
            got = rc('close.rc')
            out(got == args[0], 'close exit %s' % args[0], 'got %s' % got)
        elif op == 'ninv':
            n = len([i for i in (rate or {}).get('invoices', [])])
            out(n == int(args[0]), 'ninv %s' % args[0], 'got %d: %s' % (n, [i['account'] for i in rate.get('invoices', [])]))
        elif op in ('inv', 'cinv'):
            doc = rate if op == 'inv' else closed
            what = text
            inv = one_inv(doc, args[0], what)
            if inv is None:
                continue
            kv = parse_kv(args[1:])
            bad = {k: inv.get(k) for k, v in kv.items() if inv.get(k) != v}
            out(not bad, what, 'got %s; lines: %s' % (bad, lines_desc(inv)))
        elif op == 'noinv':
            inv = invoices(rate, args[0])
            out(not inv, text, 'got %d invoice(s): %s' % (len(inv), inv and lines_desc(inv[0])))
        elif op == 'nlines':
            inv = one_inv(rate, args[0], text)
            if inv is None:
                continue
            out(len(inv['lines']) == int(args[1]), text, 'got %d: %s' % (len(inv['lines']), lines_desc(inv)))
        elif op in ('line', 'noline'):
            inv = one_inv(rate, args[0], text)
            if inv is None:
                continue
            kv = parse_kv(args[1:])
            m = [l for l in inv['lines'] if match(l, kv)]
            if op == 'noline':
                out(not m, text, 'found %s' % m)
                continue
            if len(m) != 1:
                out(False, text, '%d matching lines; all: %s' % (len(m), lines_desc(inv)))
                continue
            l = m[0]
            bad = []
            if 'qty' in kv and kv['qty'] == '-':
                if l.get('quantity') not in (None, ''):
                    bad.append('quantity %r' % l.get('quantity'))
            elif 'qty' in kv and l.get('quantity') != kv['qty']:
                bad.append('quantity %r' % l.get('quantity'))
            if 'amount' in kv and l.get('amount') != kv['amount']:
                bad.append('amount %r' % l.get('amount'))
            if 'desc~' in kv and kv['desc~'] not in (l.get('description') or ''):
                bad.append('description %r' % l.get('description'))
            out(not bad, text, ', '.join(bad) + ' (unit_price %s)' % l.get('unit_price'))
        elif op == 'count':
            c = (rate or {}).get('counts', {})
            for k, v in parse_kv(args).items():
                cur = c
                for part in k.split('.'):
                    cur = cur.get(part) if isinstance(cur, dict) else None
                if v == '-':
                    ok = cur in (None, 0, '0')
                else:
                    ok = str(cur) == v
                out(ok, 'count %s=%s' % (k, v), 'got %r' % (cur,))
        elif op in ('nrejects', 'reject'):
            rows = None
            if os.path.isdir(os.path.join(D, 'out')):
                for sub in os.listdir(os.path.join(D, 'out')):
                    p = os.path.join(D, 'out', sub, 'rejects.csv')
                    if os.path.exists(p):
                        rows = list(csv.DictReader(open(p)))
            if rows is None:
                out(False, text, 'no rejects.csv')
                continue
            if op == 'nrejects':
                out(len(rows) == int(args[0]), text, 'got %d rows' % len(rows))
                continue
            kv = parse_kv(args)
            m = [r for r in rows if r['line'] == kv['line'] and ('object' not in kv or r['object'] == kv['object'])]
            ok = len(m) == 1 and m[0]['code'] == kv['code'] and ('id' not in kv or m[0]['event_id'] == kv['id'])
            out(ok, text, 'got %s' % [(r['object'], r['line'], r['event_id'], r['code'], r['message']) for r in m])
        elif op == 'grant':
            tab = grants_sheet()
            acct, gid = args[0], args[1]
            kv = parse_kv(args[2:])
            if tab is None:
                out(False, text, 'no workbook')
                continue
            rows = tab[1]
            rows = rows[:next((i for i, r in enumerate(rows) if r.get('Grant') == 'Amount'), len(rows))]  # first table only
            val = lambda v: v[1] if isinstance(v, tuple) else v
            got = sum((Decimal(str(val(r.get('Amount applied')) or 0)) for r in rows
                       if r.get('Account') == acct and r.get('Grant') == gid), Decimal(0))
            out(got == Decimal(kv['consumed']), text, 'applied %s' % got)
        elif op == 'same':
            def key(doc):
                return sorted((i['account'], i['subtotal'], i['discount'], i['credits_applied'], i['amount_due'],
                               tuple(sorted((l.get('kind'), l.get('product'), l.get('deployment'), l.get('meter'), l.get('quantity'),
                                             l.get('unit_price'), l.get('amount')) for l in i['lines'])))
                              for i in (doc or {}).get('invoices', []))
            out(key(rate) == key(closed) and closed is not None, 'rate drafts = close invoices', '%s\n vs %s' % (key(rate), key(closed)))
        elif op == 'tieout':
            for name, doc in (('rate', rate), ('close', closed)):
                for inv in (doc or {}).get('invoices', []):
                    s = sum((Decimal(l['amount']) for l in inv['lines']), Decimal(0))
                    disc = sum((Decimal(l['amount']) for l in inv['lines'] if l.get('kind') == 'discount'), Decimal(0))
                    ok = (s == Decimal(inv['subtotal']) and Decimal(inv['subtotal']) - Decimal(inv['credits_applied']) == Decimal(inv['amount_due'])
                          and disc == Decimal(inv['discount']) and all(len(l['amount'].split('.')[-1]) == 2 for l in inv['lines']))
                    out(ok, 'tie-out %s %s' % (name, inv['account']),
                        'sum lines %s subtotal %s credits %s due %s discount %s' % (s, inv['subtotal'], inv['credits_applied'], inv['amount_due'], inv['discount']))
        else:
            raise SystemExit('unknown op ' + op)


if __name__ == '__main__':
    main()
