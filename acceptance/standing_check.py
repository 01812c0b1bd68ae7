#!/usr/bin/env python3
"""Checks for acceptance/standing_check.sh (python3 standard library only).

Every command prints one line per check: "PASS name" or "FAIL name: detail".

  row   JSON NAME ACCOUNT key=value...   one row of `billrun standing --format json`
        keys: status, reasons (comma list, compared as a set; empty = none), tier, spend_limit,
        usage_limit, month_usage, credit_balance, evaluated_at
  rows  JSON NAME N                      the number of rows
  hist  JSON DB NAME ACCOUNT SPEC        the account's events in `standing --history --format json`:
        SPEC = ';'-separated events "old>new[r1,r2]@kind@AT" (old 'null' for the first row);
        the event's `at` must be AT and its run_id the run of that kind at AT (runs table of DB)
  nev   JSON NAME N                      the number of events
  eval  NAME EXPR                        a python expression (j(path) loads JSON, q(db, sql) queries)
"""
import json
import sqlite3
import sys


def out(ok, name, detail=''):
    print(('PASS ' if ok else 'FAIL ') + name + ('' if ok else ': ' + detail))


def j(path):
    with open(path) as f:
        return json.load(f)


def q(db, sql, *args):
    c = sqlite3.connect(db)
    try:
        return c.execute(sql, args).fetchall()
    finally:
        c.close()


def reasons_of(s):
    return sorted(x for x in s.split(',') if x)


def cmd_row(path, name, account, *kvs):
    try:
        rows = [r for r in j(path)['standing'] if r['account'] == account]
    except Exception as e:  # noqa: BLE001
        return out(False, name, 'cannot read %s: %s' % (path, e))
    if len(rows) != 1:
        return out(False, name, '%d rows for %s' % (len(rows), account))
    r = rows[0]
    bad = []
    for kv in kvs:
        k, v = kv.split('=', 1)
        if k == 'reasons':
            got, want = sorted(r.get('reasons') or []), reasons_of(v)
        elif k == 'tier':
            got, want = r.get('tier'), int(v)
        else:
            got, want = r.get(k), v
        if got != want:
            bad.append('%s=%r (want %r)' % (k, got, want))
    out(not bad, name, '; '.join(bad) + ' | row ' + json.dumps(r, sort_keys=True))


def cmd_rows(path, name, n):
    got = len(j(path)['standing'])
    out(got == int(n), name, 'got %d rows' % got)


def run_id(db, kind, at):
    rows = q(db, "select id, at from runs where kind = ?", kind)
    ids = [i for i, a in rows if a[:19] + 'Z' == at]
    return ids[0] if len(ids) == 1 else '<%d %s runs at %s>' % (len(ids), kind, at)


def cmd_hist(path, db, name, account, spec):
    evs = [e for e in j(path)['events'] if e['account'] == account]
    got = [(e['old_status'], e['new_status'], sorted(e['reasons'] or []), e['at'], e['run_id']) for e in evs]
    want = []
    for s in [x for x in spec.split(';') if x]:
        trans, kind, at = s.split('@')
        on, rest = trans.split('>')
        new, rs = rest.split('[')
        want.append((None if on == 'null' else on, new, reasons_of(rs.rstrip(']')), at, run_id(db, kind, at)))
    out(got == want, name, 'got %s want %s' % (got, want))


def cmd_nev(path, name, n):
    got = len(j(path)['events'])
    out(got == int(n), name, 'got %d events' % got)


def cmd_eval(name, expr):
    try:
        ok = eval(expr)  # noqa: S307 -- test expressions written in the script
        out(bool(ok), name, 'false: ' + expr)
    except Exception as e:  # noqa: BLE001
        out(False, name, '%s: %s' % (type(e).__name__, e))


if __name__ == '__main__':
    c, a = sys.argv[1], sys.argv[2:]
    {'row': cmd_row, 'rows': cmd_rows, 'hist': cmd_hist, 'nev': cmd_nev, 'eval': cmd_eval}[c](*a)
