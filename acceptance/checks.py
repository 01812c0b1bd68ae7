"""Acceptance checks of billrun's outputs against DESIGN §9 and §11 (stdlib only).

Usage: python3 checks.py SUBCOMMAND ARGS...  — prints one line per check:
  PASS <name>   or   FAIL <name>: <detail>
The bash driver counts them.
"""
import csv, io, json, os, re, shutil, subprocess, sys, zipfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal, ROUND_HALF_UP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlsxread  # noqa: E402

MONEY = re.compile(r'^-?\d+\.\d{2}$')
DEC = re.compile(r'^-?\d+(\.\d*[1-9])?$')  # no trailing zeros
NUM_INV = re.compile(r'^INV-(\d{4})-(\d{6})$')
NUM_CN = re.compile(r'^CN-(\d{4})-(\d{6})$')
CENT = Decimal('0.01')

results = []


def check(name, ok, detail=''):
    results.append((name, bool(ok), detail))
    print(('PASS ' + name) if ok else ('FAIL %s: %s' % (name, detail)))
    sys.stdout.flush()


def ts(s):
    return datetime.fromisoformat(s.replace('Z', '+00:00'))


def D(s):
    return Decimal(s)


def load(path):
    with open(path, 'rb') as f:
        return json.load(f)


# ---------------------------------------------------------------- period JSON
def period_json(path, tag, period, accounts=None, terms_days=15, draft=False, expect_docs=None):
    try:
        d = load(path)
    except Exception as e:  # noqa
        check(tag + ': valid JSON', False, str(e))
        return None
    check(tag + ': valid JSON', True)
    check(tag + ': schema billrun.period/v1', d.get('schema') == 'billrun.period/v1', repr(d.get('schema')))
    check(tag + ': period', d.get('period') == period, repr(d.get('period')))
    check(tag + ': currency USD', d.get('currency') == 'USD', repr(d.get('currency')))
    check(tag + ': invoices and standing arrays', isinstance(d.get('invoices'), list) and isinstance(d.get('standing'), list),
          str({k: type(v).__name__ for k, v in d.items()}))
    docs = d.get('invoices') or []
    if expect_docs is not None:
        check(tag + ': %d documents' % expect_docs, len(docs) == expect_docs, str(len(docs)))
    bad = []
    need = ['number', 'account', 'kind', 'status', 'replaces', 'issued_at', 'due_at', 'lines', 'subtotal',
            'discount', 'credits_applied', 'amount_due', 'amount_paid']
    for doc in docs:
        who = doc.get('number') or doc.get('account')
        miss = [k for k in need if k not in doc]
        if miss:
            bad.append('%s missing %s' % (who, miss))
        for k in ('subtotal', 'discount', 'credits_applied', 'amount_due', 'amount_paid'):
            v = doc.get(k)
            if not (isinstance(v, str) and MONEY.match(v)):
                bad.append('%s %s=%r not a 2-place decimal string' % (who, k, v))
        for ln in doc.get('lines', []):
            v = ln.get('amount')
            if not (isinstance(v, str) and MONEY.match(v)):
                bad.append('%s line amount %r' % (who, v))
    check(tag + ': document fields and money format', not bad, '; '.join(bad[:5]))

    bad_sub, bad_disc, bad_dl, bad_gpu, bad_due, bad_amt, bad_q, bad_cn, bad_void, bad_num, bad_stat = ([] for _ in range(11))
    for doc in docs:
        who = doc.get('number') or doc.get('account')
        lines = doc.get('lines', [])
        try:
            s = sum((D(l['amount']) for l in lines), Decimal('0.00'))
            if s != D(doc['subtotal']):
                bad_sub.append('%s lines %s subtotal %s' % (who, s, doc['subtotal']))
            dsum = sum((D(l['amount']) for l in lines if l.get('kind') == 'discount'), Decimal('0.00'))
            if dsum != D(doc['discount']):
                bad_disc.append('%s discount lines %s field %s' % (who, dsum, doc['discount']))
            if doc['kind'] != 'credit_note' and D(doc['discount']) > 0 and doc['kind'] == 'invoice':
                bad_disc.append('%s discount positive %s' % (who, doc['discount']))
        except Exception as e:  # noqa
            bad_sub.append('%s %s' % (who, e))
        for l in lines:
            if l.get('kind') == 'discount':
                if not (l.get('product') == 'on_demand' and l.get('meter') == 'discount' and l.get('quantity') is None):
                    bad_dl.append('%s %r' % (who, l))
            elif l.get('kind') == 'gpu':
                if not l.get('deployment'):
                    bad_gpu.append('%s %s' % (who, l.get('product')))
            if l.get('kind') != 'discount':
                q, up, unit = l.get('quantity'), l.get('unit_price'), l.get('unit')
                if not (isinstance(q, str) and DEC.match(q)) or (q and D(q) == 0):
                    bad_q.append('%s %s quantity %r' % (who, l.get('meter'), q))
                    continue
                size = {'1M tokens': Decimal(1000000), 'GPU-hour': Decimal(3600)}.get(unit)
                if size is None or not isinstance(up, str):
                    bad_amt.append('%s unit %r unit_price %r' % (who, unit, up))
                    continue
                exp = (D(q) * D(up) / size).quantize(CENT, rounding=ROUND_HALF_UP)  # half away from zero for +/-
                if doc['kind'] == 'invoice' and exp != D(l['amount']):
                    bad_amt.append('%s %s %s×%s/%s=%s but %s' % (who, l.get('product'), q, up, size, exp, l['amount']))
        kind, st = doc.get('kind'), doc.get('status')
        num = doc.get('number')
        if draft:
            if num is not None or st != 'draft':
                bad_stat.append('%s number %r status %r' % (who, num, st))
        else:
            rx = NUM_CN if kind == 'credit_note' else NUM_INV
            m = rx.match(num or '')
            if not m:
                bad_num.append('%s kind %s' % (num, kind))
            elif doc.get('issued_at') and m.group(1) != doc['issued_at'][:4]:
                bad_num.append('%s issued %s' % (num, doc['issued_at']))
        if kind == 'credit_note':
            if not (D(doc['subtotal']) < 0 and doc['credits_applied'] == '0.00' and doc['amount_due'] == '0.00'
                    and st in ('issued', 'void') and doc.get('due_at') is None and doc.get('corrects')):
                bad_cn.append('%s subtotal %s credits %s due %s status %s due_at %r corrects %r' % (
                    num, doc['subtotal'], doc['credits_applied'], doc['amount_due'], st, doc.get('due_at'), doc.get('corrects')))
            if any(D(l['amount']) > 0 for l in lines):
                bad_cn.append('%s has a positive line' % num)
        else:
            if D(doc['amount_due']) != D(doc['subtotal']) - D(doc['credits_applied']):
                bad_due.append('%s due %s != %s - %s' % (who, doc['amount_due'], doc['subtotal'], doc['credits_applied']))
            if doc.get('issued_at') and doc.get('due_at'):
                if ts(doc['due_at']) - ts(doc['issued_at']) != timedelta(days=terms_days):
                    bad_due.append('%s issued %s due %s' % (who, doc['issued_at'], doc['due_at']))
            else:
                bad_due.append('%s issued_at/due_at missing' % who)
            if not draft:
                if st == 'void':
                    pass
                elif D(doc['amount_paid']) >= D(doc['amount_due']):
                    if st != 'paid':
                        bad_stat.append('%s paid %s>=due %s but %s' % (num, doc['amount_paid'], doc['amount_due'], st))
                elif st != 'open':
                    bad_stat.append('%s paid %s<due %s but %s' % (num, doc['amount_paid'], doc['amount_due'], st))
            if kind == 'supplementary' and not doc.get('corrects'):
                bad_cn.append('%s supplementary without corrects' % num)
        if st == 'void':
            if not doc.get('voided_at'):
                bad_void.append('%s void without voided_at' % num)
        elif doc.get('voided_at'):
            bad_void.append('%s status %s with voided_at' % (num, st))
    check(tag + ': subtotal = sum of lines', not bad_sub, '; '.join(bad_sub[:5]))
    check(tag + ': discount = sum of discount lines (<=0), in subtotal', not bad_disc, '; '.join(bad_disc[:5]))
    check(tag + ': discount line shape (kind discount, product on_demand, meter discount, no quantity)', not bad_dl, '; '.join(bad_dl[:3]))
    check(tag + ': GPU lines carry deployment', not bad_gpu, '; '.join(bad_gpu[:5]))
    check(tag + ': quantities decimal strings, no trailing zeros, non-zero', not bad_q, '; '.join(bad_q[:5]))
    check(tag + ': line amount = round(q x price / unit) half away from zero', not bad_amt, '; '.join(bad_amt[:5]))
    check(tag + ': amount_due = subtotal - credits, due_at = issued_at + %dd' % terms_days, not bad_due, '; '.join(bad_due[:5]))
    check(tag + ': credit notes / supplementary shape', not bad_cn, '; '.join(bad_cn[:5]))
    check(tag + ': void documents have voided_at (and only they)', not bad_void, '; '.join(bad_void[:5]))
    check(tag + ': numbers INV/CN-YYYY-NNNNNN with YYYY = issue year' if not draft else tag + ': drafts have number null, status draft',
          not (bad_num if not draft else bad_stat), '; '.join((bad_num if not draft else bad_stat)[:5]))
    if not draft:
        check(tag + ': status paid iff amount_paid >= amount_due (else open)', not bad_stat, '; '.join(bad_stat[:5]))
        nums = {doc['number'] for doc in docs}
        dangling = [(doc['number'], doc.get('replaces'), doc.get('corrects')) for doc in docs
                    if (doc.get('replaces') and doc['replaces'] not in nums) or (doc.get('corrects') and doc['corrects'] not in nums)]
        check(tag + ': replaces/corrects name documents of the period', not dangling, str(dangling[:5]))
        # one effective invoice per account: replaced documents are void
        replaced = {doc['replaces'] for doc in docs if doc.get('replaces')}
        notvoid = [n for n in replaced if not any(x['number'] == n and x['status'] == 'void' for x in docs)]
        check(tag + ': every replaced document is void', not notvoid, str(notvoid))
    # standing
    st = d.get('standing') or []
    if accounts is not None and not draft:
        ids = [r.get('account') for r in st]
        check(tag + ': standing lists every account once', sorted(ids) == sorted(accounts) and len(set(ids)) == len(ids),
              'got %d rows for %d accounts; missing %s' % (len(ids), len(accounts), sorted(set(accounts) - set(ids))[:5]))
    standing_rows(st, tag + ': standing', need_eval=not draft)
    return d


def standing_rows(rows, tag, need_eval=True):
    bad = []
    for r in rows:
        for k in ('account', 'status', 'reasons', 'tier', 'spend_limit', 'usage_limit', 'month_usage', 'credit_balance'):
            if k not in r:
                bad.append('%s missing %s' % (r.get('account'), k))
        if need_eval and not r.get('evaluated_at'):
            bad.append('%s no evaluated_at' % r.get('account'))
        for k in ('spend_limit', 'usage_limit', 'month_usage', 'credit_balance'):
            if not (isinstance(r.get(k), str) and MONEY.match(r.get(k))):
                bad.append('%s %s=%r' % (r.get('account'), k, r.get(k)))
        if not isinstance(r.get('tier'), int) or not isinstance(r.get('reasons'), list):
            bad.append('%s tier/reasons types' % r.get('account'))
            continue
        s, rs = r.get('status'), r.get('reasons')
        exp = 'suspended' if ('past_due_invoice' in rs or 'no_payment_method' in rs) else (
            'limit_exceeded' if 'spend_limit_reached' in rs else 'active')
        if s != exp:
            bad.append('%s status %s reasons %s' % (r.get('account'), s, rs))
        if s == 'suspended' and r.get('usage_limit') != '0.00':
            bad.append('%s suspended usage_limit %s' % (r.get('account'), r.get('usage_limit')))
        if s != 'suspended' and r.get('usage_limit') != r.get('spend_limit'):
            bad.append('%s usage_limit %s != spend_limit %s' % (r.get('account'), r.get('usage_limit'), r.get('spend_limit')))
    check(tag + ' rows: fields, money strings, status/reasons/usage_limit consistent' + (', evaluated_at' if need_eval else ''),
          not bad, '; '.join(bad[:5]))


def gapless(paths, tag):
    seen = {}
    for p in paths:
        for doc in load(p).get('invoices', []):
            m = re.match(r'^(INV|CN)-(\d{4})-(\d{6})$', doc.get('number') or '')
            if m:
                seen.setdefault((m.group(1), m.group(2)), []).append(int(m.group(3)))
    bad = []
    for k, v in sorted(seen.items()):
        if sorted(v) != list(range(1, len(v) + 1)):
            bad.append('%s-%s: %s' % (k[0], k[1], sorted(v)))
    check(tag + ': numbers gapless per prefix and year from 000001 (%s)' % ', '.join('%s-%s:%d' % (k[0], k[1], len(v)) for k, v in sorted(seen.items())),
          not bad, '; '.join(bad))


# ---------------------------------------------------------------- CSV
FORMULA = ('=', '+', '-', '@')


def export_csv(path, json_path, tag):
    raw = open(path, 'rb').read()
    text = raw.decode('utf-8')
    rows = list(csv.reader(io.StringIO(text, newline='')))
    check(tag + ': parses, header + rows', len(rows) >= 1, str(len(rows)))
    bad = [(i, j, c) for i, r in enumerate(rows) for j, c in enumerate(r) if c[:1] in FORMULA]
    check(tag + ': no cell begins with = + - @ unescaped', not bad, str(bad[:5]))
    phys = text.count('\n') if text.endswith('\n') else text.count('\n') + 1
    check(tag + ': one row per physical line', phys == len(rows), 'physical %d records %d' % (phys, len(rows)))
    d = load(json_path)
    exp_rows = sum(max(1, len(doc['lines'])) for doc in d['invoices'])
    check(tag + ': one row per document line (a document without lines: one row)', len(rows) - 1 == exp_rows,
          'rows %d expected %d' % (len(rows) - 1, exp_rows))
    hdr = rows[0]
    # amounts tie to JSON
    if 'amount' in hdr and 'number' in hdr:
        ia, inu = hdr.index('amount'), hdr.index('number')
        unesc = lambda c: c[1:] if c[:2] in ("'=", "'+", "'-", "'@") else c  # noqa
        tot_csv = sum(D(unesc(r[ia])) for r in rows[1:] if r[ia])
        tot_json = sum(D(l['amount']) for doc in d['invoices'] for l in doc['lines'])
        check(tag + ': sum of line amounts equals JSON (%s)' % tot_json, tot_csv == tot_json, '%s vs %s' % (tot_csv, tot_json))
        neg = [r[ia] for r in rows[1:] if r[ia].startswith("'-")]
        negj = [l for doc in d['invoices'] for l in doc['lines'] if l['amount'].startswith('-')]
        check(tag + ': negative amounts escaped as \'-', len(neg) == len(negj), '%d vs %d' % (len(neg), len(negj)))
    return rows


def rejects_csv(path, tag, expect_rows=None, expect_codes=None):
    text = open(path, 'rb').read().decode('utf-8')
    rows = list(csv.reader(io.StringIO(text, newline='')))
    check(tag + ': header exactly object,line,event_id,code,message', rows and rows[0] == ['object', 'line', 'event_id', 'code', 'message'],
          repr(rows[:1]))
    bad = [(i, j, c) for i, r in enumerate(rows) for j, c in enumerate(r) if c[:1] in FORMULA]
    check(tag + ': no cell begins with = + - @ unescaped', not bad, str(bad[:5]))
    check(tag + ': 5 cells per row', all(len(r) == 5 for r in rows), str([r for r in rows if len(r) != 5][:3]))
    if expect_rows is not None:
        check(tag + ': %d reject rows' % expect_rows, len(rows) - 1 == expect_rows, str(len(rows) - 1))
    if expect_codes is not None:
        codes = sorted(r[3] for r in rows[1:])
        check(tag + ': codes %s' % sorted(expect_codes), codes == sorted(expect_codes), str(codes))
    return rows


# ---------------------------------------------------------------- XLSX
SHEETS = ['Summary', 'Invoices', 'Lines', 'Credits', 'Standing', 'Rejects', 'Run']


def is_currency(fmt):
    return fmt is not None and '0.00' in fmt and ('$' in fmt or '[$' in fmt or 'USD' in fmt)


def xlsx(path, json_path, tag, libreoffice=True):
    try:
        wb = xlsxread.Workbook(path)
    except Exception as e:  # noqa
        check(tag + ': opens as a zip workbook', False, str(e))
        return
    check(tag + ': opens as a zip workbook', True)
    package(wb, tag)
    names = [n for n, _ in wb.sheets]
    check(tag + ': sheets Summary, Invoices, Lines, Credits, Standing, Rejects, Run', names == SHEETS, str(names))
    st = __import__('xml.etree.ElementTree', fromlist=['x']).fromstring(wb.z.read('xl/styles.xml'))
    ns = {'m': xlsxread.NS['m']}
    fonts = st.find('m:fonts', ns).findall('m:font', ns)
    xfs = st.find('m:cellXfs', ns).findall('m:xf', ns)

    def bold(s):
        if s is None:
            return False
        f = fonts[int(xfs[s].get('fontId', '0'))]
        b = f.find('m:b', ns)
        return b is not None and b.get('val', '1') not in ('0', 'false')
    d = load(json_path)
    docs = d['invoices']
    sheets = {}
    for n in names:
        sh = wb.sheet(n)
        sheets[n] = sh
        p = sh.pane() or {}
        check('%s: %s frozen header row' % (tag, n), p.get('state') == 'frozen' and p.get('ySplit') == '1' and p.get('topLeftCell') == 'A2', str(p))
        af = sh.autofilter()
        check('%s: %s autofilter on the header' % (tag, n), af is not None and re.sub(r'\$', '', af).startswith('A1:'), str(af))
        cols = sh.cols()
        hdr = [v for v, _ in sh.rows[0]] if sh.rows else []
        covered = set()
        for c in cols:
            if c.get('width') and c.get('customWidth') in ('1', 'true'):
                covered.update(range(int(c['min']), int(c['max']) + 1))
        check('%s: %s column widths set for every header column' % (tag, n), all(i + 1 in covered for i in range(len(hdr))),
              'header %d cols, widths for %s' % (len(hdr), sorted(covered)))
        check('%s: %s header bold' % (tag, n), sh.rows and all(bold(s) for _, s in sh.rows[0] if _ is not None),
              str([s for _, s in sh.rows[0]]) if sh.rows else 'empty')
        # money columns carry a currency format
        money_cols = [i for i, h in enumerate(hdr) if isinstance(h, str) and re.search(
            r'subtotal|discount|credit|amount|paid|due$|limit|usage|balance|spend|unit price', h, re.I)
            and not re.search(r'at \(UTC\)|Number|Grant|Kind|Status', h)]
        badf = []
        for r in sh.rows[1:]:
            if len(r) == 0 or r[0][0] in ('Object', 'Grant') :
                break
            for i in money_cols:
                if i < len(r) and isinstance(r[i][0], tuple):
                    f = wb.fmt(r[i][1])[1]
                    if not (is_currency(f) or (hdr[i] == 'Unit price' and '0' in f)):
                        badf.append('%s %s' % (hdr[i], f))
        check('%s: %s money cells have a currency number format' % (tag, n), not badf, str(sorted(set(badf))[:4]))
        # money cells are numbers, not text
        textmoney = []
        for r in sh.rows[1:]:
            if len(r) == 0 or r[0][0] in ('Object', 'Grant'):
                break
            for i in money_cols:
                if i < len(r) and isinstance(r[i][0], str) and re.match(r'^-?[\d.,$]+$', r[i][0]):
                    textmoney.append(r[i][0])
        check('%s: %s money cells are numbers' % (tag, n), not textmoney, str(textmoney[:4]))
    # Summary totals
    sm = sheets['Summary']
    hdr = [v for v, _ in sm.rows[0]]
    body = [[v for v, _ in r] for r in sm.rows[1:]]
    tot = [r for r in body if r and isinstance(r[0], str) and r[0].lower().startswith('total')]
    acc_rows = [r for r in body if r and r not in tot and r[0]]

    def num(v):
        return D(v[1]) if isinstance(v, tuple) else Decimal(0)
    eff = [doc for doc in docs if doc['status'] != 'void']
    fields = [('Subtotal', 'subtotal'), ('Discount', 'discount'), ('Credits applied', 'credits_applied'), ('Amount due', 'amount_due'), ('Amount paid', 'amount_paid')]
    check(tag + ': Summary has a grand-total row', len(tot) == 1, str(len(tot)))
    if tot:
        t = tot[0]
        bad = []
        for h, k in fields:
            if h not in hdr:
                bad.append('no column %s' % h)
                continue
            xs = num(t[hdr.index(h)]).quantize(CENT)
            js = sum((D(doc[k]) for doc in eff), Decimal('0.00'))
            alls = sum((D(doc[k]) for doc in docs), Decimal('0.00'))
            if xs != js:
                bad.append('%s total %s, JSON non-void docs %s (all docs %s)' % (h, xs, js, alls))
        check(tag + ': Summary grand totals = sum of the (non-void) documents to the cent', not bad, '; '.join(bad))
        bad = []
        for h, k in fields:
            if h not in hdr:
                continue
            i = hdr.index(h)
            s = sum((num(r[i]) for r in acc_rows if i < len(r)), Decimal(0)).quantize(CENT)
            if s != num(t[i]).quantize(CENT):
                bad.append('%s: rows sum %s total %s' % (h, s, num(t[i])))
        check(tag + ': Summary total row = sum of its account rows', not bad, '; '.join(bad))
        # per account
        bad = []
        for r in acc_rows:
            acc = r[0]
            for h, k in fields[:4]:
                i = hdr.index(h)
                js = sum((D(doc[k]) for doc in eff if doc['account'] == acc), Decimal('0.00'))
                if num(r[i]).quantize(CENT) != js:
                    bad.append('%s %s %s vs %s' % (acc, h, num(r[i]), js))
        check(tag + ': Summary per-account figures = JSON non-void documents', not bad, '; '.join(bad[:5]))
        check(tag + ': Summary one row per account (standing)', sorted(r[0] for r in acc_rows) == sorted(x['account'] for x in d['standing']),
              '%d rows vs %d standing' % (len(acc_rows), len(d['standing'])))
    inv = sheets['Invoices']
    check(tag + ': Invoices sheet one row per document', len(inv.rows) - 1 == len(docs), '%d vs %d' % (len(inv.rows) - 1, len(docs)))
    ln = sheets['Lines']
    nl = sum(len(doc['lines']) for doc in docs)
    check(tag + ': Lines sheet one row per line', len(ln.rows) - 1 == nl, '%d vs %d' % (len(ln.rows) - 1, nl))
    lh = [v for v, _ in ln.rows[0]]
    if 'Amount' in lh:
        i = lh.index('Amount')
        s = sum((D(r[i][0][1]) for r in ln.rows[1:] if i < len(r) and isinstance(r[i][0], tuple)), Decimal(0)).quantize(CENT)
        js = sum((D(l['amount']) for doc in docs for l in doc['lines']), Decimal('0.00'))
        check(tag + ': Lines amounts sum = JSON', s == js, '%s vs %s' % (s, js))
    sh = sheets['Standing']
    check(tag + ': Standing sheet one row per account', len(sh.rows) - 1 == len(d['standing']), '%d vs %d' % (len(sh.rows) - 1, len(d['standing'])))
    if libreoffice:
        lo_open(path, tag)


def package(wb, tag):
    """Structural checks Excel is strict about (a repair prompt otherwise): every part has a content
    type, every relationship target exists, every sheet's XML parses, column widths <= 255."""
    import posixpath
    import xml.etree.ElementTree as ET
    z = wb.z
    names = set(z.namelist())
    ct = ET.fromstring(z.read('[Content_Types].xml'))
    ctns = '{http://schemas.openxmlformats.org/package/2006/content-types}'
    exts = {d.get('Extension').lower() for d in ct.findall(ctns + 'Default')}
    over = {o.get('PartName').lstrip('/') for o in ct.findall(ctns + 'Override')}
    untyped = [n for n in names if not n.endswith('/') and n not in over and n.rsplit('.', 1)[-1].lower() not in exts]
    missing_over = [o for o in over if o not in names]
    check(tag + ': every package part has a content type, every override names a part', not untyped and not missing_over,
          'untyped %s, overrides without part %s' % (untyped[:3], missing_over[:3]))
    broken = []
    for n in names:
        if not n.endswith('.rels'):
            continue
        base = posixpath.dirname(posixpath.dirname(n))
        for r in ET.fromstring(z.read(n)).findall('{%s}Relationship' % xlsxread.RNS):
            if r.get('TargetMode') == 'External':
                continue
            t = r.get('Target')
            t = t.lstrip('/') if t.startswith('/') else posixpath.normpath(posixpath.join(base, t))
            if t not in names:
                broken.append('%s -> %s' % (n, t))
    check(tag + ': every relationship target exists', not broken, str(broken[:3]))
    bad = []
    for n in names:
        if n.endswith('.xml') or n.endswith('.rels'):
            try:
                ET.fromstring(z.read(n))
            except ET.ParseError as e:
                bad.append('%s: %s' % (n, e))
    check(tag + ': every XML part is well-formed', not bad, str(bad[:3]))
    wide = []
    for sn, _ in wb.sheets:
        for c in wb.sheet(sn).cols():
            if float(c.get('width', 0)) > 255:
                wide.append('%s %s' % (sn, c))
    check(tag + ': column widths <= 255', not wide, str(wide[:3]))
    # sheet names: <= 31 chars, unique, no []:*?/\
    sn = [n for n, _ in wb.sheets]
    check(tag + ': sheet names valid (<=31 chars, unique, no []:*?/\\)',
          len(set(sn)) == len(sn) and all(len(x) <= 31 and not re.search(r'[\[\]:*?/\\]', x) for x in sn), str(sn))


def lo_open(path, tag):
    if shutil.which('soffice') is None:
        print('SKIP %s: LibreOffice (soffice) is not installed' % tag)
        return
    out = os.path.join(os.environ.get('ACC_WORK', '/tmp/acc/run'), 'lo')
    os.makedirs(out, exist_ok=True)
    base = os.path.splitext(os.path.basename(path))[0]
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    env = dict(os.environ, HOME=os.path.join(os.environ.get('ACC_WORK', '/tmp/acc/run'), 'lohome'))
    p = subprocess.run(['soffice', '--headless', '--norestore', '--convert-to', 'csv', '--outdir', out, path],
                       capture_output=True, text=True, timeout=300, env=env)
    ok = p.returncode == 0 and os.path.exists(os.path.join(out, base + '.csv')) and 'rror' not in p.stderr
    check(tag + ': LibreOffice headless converts it without errors', ok, 'rc %d stderr %s' % (p.returncode, p.stderr[-300:]))
    if ok:
        rows = list(csv.reader(open(os.path.join(out, base + '.csv'), newline='', encoding='utf-8', errors='replace')))
        check(tag + ': LibreOffice reads the Summary sheet (header Account)', rows and rows[0] and rows[0][0] == 'Account', str(rows[:1]))


# ---------------------------------------------------------------- rate JSON
def rate_json(path, tag, period, expect_rejects=None):
    d = period_json(path, tag, period, draft=True)
    if d is None:
        return
    c = d.get('counts')
    check(tag + ': counts object', isinstance(c, dict), repr(c)[:200])
    if not isinstance(c, dict):
        return
    keys = set(c)
    want = {'objects', 'bytes', 'lines', 'events_taken', 'duplicates'}
    check(tag + ': counts has objects, bytes, lines, events_taken, duplicates', want <= keys, str(sorted(keys)))
    rb = c.get('rejects_by_code')
    check(tag + ': counts has rejects by code', isinstance(rb, dict), repr(rb))
    m = c.get('meters')
    check(tag + ': counts has quantity totals per meter', isinstance(m, dict) and all(isinstance(v, str) and DEC.match(v) for v in m.values()),
          repr(m)[:200])
    if expect_rejects is not None and isinstance(rb, dict):
        check(tag + ': rejects_by_code = %s' % expect_rejects, rb == expect_rejects, repr(rb))
    # meters tie to lines: for each meter the sum of draft line quantities equals the total (usage lines)
    if isinstance(m, dict):
        sums = {}
        for doc in d['invoices']:
            for l in doc['lines']:
                if l['kind'] != 'discount':
                    sums[l['meter']] = sums.get(l['meter'], Decimal(0)) + D(l['quantity'])
        bad = [(k, str(v), m.get(k)) for k, v in sums.items() if D(m.get(k, '0')) != v]
        check(tag + ': meter totals = sum of draft line quantities', not bad, str(bad[:4]))


def standing_json(path, tag, accounts):
    d = load(path)
    check(tag + ': schema billrun.standing/v1', d.get('schema') == 'billrun.standing/v1', repr(d.get('schema')))
    check(tag + ': exactly keys schema, standing', sorted(d) == ['schema', 'standing'], str(sorted(d)))
    rows = d.get('standing') or []
    check(tag + ': every account once', sorted(r['account'] for r in rows) == sorted(accounts), '%d rows' % len(rows))
    standing_rows(rows, tag)


def same_standing(p1, p2, tag):
    a = load(p1)['standing']
    b = load(p2)['standing']
    check(tag + ': standing command rows = export rows', a == b, 'differ')


def doc_find(path, account):
    return [doc for doc in load(path)['invoices'] if doc['account'] == account]


def expect(tag, cond, detail=''):
    check(tag, cond, detail)


if __name__ == '__main__':
    cmd = sys.argv[1]
    args = sys.argv[2:]
    if cmd == 'period':
        path, tag, period = args[:3]
        accs = None
        kw = {}
        for a in args[3:]:
            k, v = a.split('=', 1)
            if k == 'accounts':
                accs = [x for x in open(v).read().split() if x]
            elif k == 'docs':
                kw['expect_docs'] = int(v)
            elif k == 'terms':
                kw['terms_days'] = int(v)
        period_json(path, tag, period, accounts=accs, **kw)
    elif cmd == 'gapless':
        gapless(args[1:], args[0])
    elif cmd == 'csv':
        export_csv(args[0], args[1], args[2])
    elif cmd == 'rejects':
        kw = {}
        for a in args[2:]:
            k, v = a.split('=', 1)
            if k == 'rows':
                kw['expect_rows'] = int(v)
            if k == 'codes':
                kw['expect_codes'] = [x for x in v.split(',') if x]
        rejects_csv(args[0], args[1], **kw)
    elif cmd == 'xlsx':
        xlsx(args[0], args[1], args[2], libreoffice=(len(args) < 4 or args[3] != 'nolo'))
    elif cmd == 'rate':
        rate_json(args[0], args[1], args[2], expect_rejects=json.loads(args[3]) if len(args) > 3 else None)
    elif cmd == 'standing':
        standing_json(args[0], args[1], [x for x in open(args[2]).read().split() if x])
        if len(args) > 3:
            same_standing(args[0], args[3], args[1])
    elif cmd == 'eval':
        # eval TAG PYTHON-EXPR with j(path) available
        tag, expr = args[0], args[1]
        env = {'j': load, 'D': D, 'docs': doc_find}
        try:
            v = eval(expr, env)
            check(tag, v is True, repr(v)[:400])
        except Exception as e:  # noqa
            check(tag, False, 'error %r' % e)
    else:
        sys.exit('unknown ' + cmd)
