"""Runs a worked example (/work/shared/examples/NN/scenario.yaml) against billrun and checks every `check`
step's expectations against `billrun export --period P --format json`, plus the generic output checks
of checks.py on each exported period. Usage: examples.py BIN YAML2JSON EXAMPLE_DIR WORK_DIR
"""
import json, os, shutil, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks  # noqa: E402
from checks import check  # noqa: E402

BIN, Y2J, EX, WD = sys.argv[1:5]
name = os.path.basename(EX.rstrip('/'))
shutil.rmtree(WD, ignore_errors=True)
shutil.copytree(EX, WD)
os.chdir(WD)
sc = json.loads(subprocess.check_output([Y2J, 'scenario.yaml']))
DB = 'sqlite:' + os.path.join(WD, 'ex.db')
COMMON = ['--db', DB]
READ = ['--usage', os.path.join(WD, 'usage'), '--prices', os.path.join(WD, 'prices.yaml')]
env = dict(os.environ, BILLRUN_LOG_FORMAT='json')
last_at = None


def run(args):
    p = subprocess.run([BIN] + args, capture_output=True, text=True, env=env)
    return p


def match(exp, act, path, errs):
    if isinstance(exp, dict):
        if not isinstance(act, dict):
            errs.append('%s: want object, got %r' % (path, act))
            return
        for k, v in exp.items():
            if k not in act:
                errs.append('%s.%s missing' % (path, k))
            else:
                match(v, act[k], path + '.' + k, errs)
    elif isinstance(exp, list):
        if not isinstance(act, list) or len(exp) != len(act):
            errs.append('%s: want %d items, got %r' % (path, len(exp), act if not isinstance(act, list) else len(act)))
            return
        if all(isinstance(e, dict) for e in exp) and path.endswith('lines'):
            used = set()
            for i, e in enumerate(exp):
                for j, a in enumerate(act):
                    if j in used:
                        continue
                    ee = []
                    match(e, a, path, ee)
                    if not ee:
                        used.add(j)
                        break
                else:
                    errs.append('%s[%d] %r matches no line' % (path, i, e))
        else:
            for i, (e, a) in enumerate(zip(exp, act)):
                match(e, a, '%s[%d]' % (path, i), errs)
    else:
        if isinstance(exp, (int, float)) and not isinstance(exp, bool) and isinstance(act, str):
            ok = act == str(exp)
        elif isinstance(exp, str) and isinstance(act, str) and len(exp) == 10 and exp[4] == '-' and len(act) > 10:
            ok = act[:10] == exp
        else:
            ok = exp == act
        if not ok:
            errs.append('%s: want %r got %r' % (path, exp, act))


periods = set()
for i, step in enumerate(sc['steps']):
    (kind, arg), = step.items()
    tag = '%s step %d %s' % (name, i + 1, kind)
    if kind == 'close':
        args = ['close'] + COMMON + READ + ['--period', arg['period'], '--at', arg['at'], '--out', 'out']
        if arg.get('accounts'):
            args += ['--accounts', arg['accounts']]
        if 'max_rejects' in arg:
            args += ['--max-rejects', str(arg['max_rejects'])]
        p = run(args)
        check('%s %s exit %s' % (tag, arg['period'], arg.get('expect_exit', 0)), p.returncode == arg.get('expect_exit', 0),
              'rc %d %s' % (p.returncode, p.stderr[-300:]))
        periods.add(arg['period'])
        last_at = arg['at']
        if 'rejects' in arg and os.path.exists('out/%s/rejects.csv' % arg['period']):
            n = len(open('out/%s/rejects.csv' % arg['period']).read().strip().splitlines()) - 1
            check('%s %s rejects %s' % (tag, arg['period'], arg['rejects']), n == arg['rejects'], str(n))
    elif kind == 'import':
        f, at = (arg['file'], arg.get('at')) if isinstance(arg, dict) else (arg, None)
        p = run(['accounts', 'import'] + COMMON + ([f] if not at else ['--at', at, f]))
        check('%s %s exit 0' % (tag, f), p.returncode == 0, p.stderr[-300:])
    elif kind in ('sweep', 'rerun', 'rate'):
        arg = arg or {}
        args = [kind] + COMMON + READ
        if arg.get('at'):
            args += ['--at', arg['at']]
        if arg.get('period'):
            args += ['--period', arg['period']]
        for a in arg.get('accounts', []) or []:
            args += ['--account', a]
        p = run(args)
        check('%s exit %s' % (tag, arg.get('expect_exit', 0)), p.returncode == arg.get('expect_exit', 0), p.stderr[-300:])
    elif kind == 'add_usage':
        src = arg if isinstance(arg, str) else arg['dir']
        for root, _, files in os.walk(src):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), src)
                os.makedirs(os.path.dirname(os.path.join('usage', rel)), exist_ok=True)
                shutil.copy(os.path.join(root, f), os.path.join('usage', rel))
        check(tag, True)
    elif kind == 'check':
        per = arg['period']
        p = run(['export'] + COMMON + ['--period', per, '--format', 'json'])
        check('%s export %s exit 0' % (tag, per), p.returncode == 0, p.stderr[-300:])
        d = json.loads(p.stdout)
        exp = arg['expect']
        for acc, docs in (exp.get('invoices') or {}).items():
            act = [x for x in d['invoices'] if x['account'] == acc]
            errs = []
            match(docs, act, acc, errs)
            check('%s %s invoices of %s' % (tag, per, acc), not errs, '; '.join(errs[:4]))
        for acc, row in (exp.get('standing') or {}).items():
            act = [x for x in d['standing'] if x['account'] == acc]
            errs = []
            if len(act) != 1:
                errs.append('%d rows' % len(act))
            else:
                match(row, act[0], acc, errs)
            check('%s %s standing of %s' % (tag, per, acc), not errs, '; '.join(errs[:4]))
        path = 'check%d.json' % (i + 1)
        open(path, 'w').write(p.stdout)
        checks.period_json(path, '%s generic' % tag, per)
    else:
        check('%s: known step kind' % tag, False, kind)

# numbering across every period of the example
paths = []
for per in sorted(periods):
    p = run(['export'] + COMMON + ['--period', per, '--format', 'json'])
    open('final-%s.json' % per, 'w').write(p.stdout)
    paths.append('final-%s.json' % per)
checks.gapless(paths, name + ' all periods')
