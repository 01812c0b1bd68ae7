"""Minimal XLSX reader (stdlib only) for the acceptance checks."""
import re, sys, zipfile, json
import xml.etree.ElementTree as ET
NS = {'m': 'http://schemas.openxmlformats.org/spreadsheetml/2006/main',
      'r': 'http://schemas.openxmlformats.org/officeDocument/2006/relationships'}
RNS = 'http://schemas.openxmlformats.org/package/2006/relationships'

def col2idx(c):
    n = 0
    for ch in c:
        n = n * 26 + ord(ch) - 64
    return n - 1

class Workbook:
    def __init__(self, path):
        self.z = zipfile.ZipFile(path)
        wb = ET.fromstring(self.z.read('xl/workbook.xml'))
        rels = ET.fromstring(self.z.read('xl/_rels/workbook.xml.rels'))
        rmap = {r.get('Id'): r.get('Target') for r in rels.findall('{%s}Relationship' % RNS)}
        self.sheets = []
        for s in wb.find('m:sheets', NS).findall('m:sheet', NS):
            t = rmap[s.get('{%s}id' % NS['r'])]
            t = t.lstrip('/')
            if not t.startswith('xl/'):
                t = 'xl/' + t
            self.sheets.append((s.get('name'), t))
        self.shared = []
        if 'xl/sharedStrings.xml' in self.z.namelist():
            ss = ET.fromstring(self.z.read('xl/sharedStrings.xml'))
            for si in ss.findall('m:si', NS):
                self.shared.append(''.join(t.text or '' for t in si.iter('{%s}t' % NS['m'])))
        st = ET.fromstring(self.z.read('xl/styles.xml'))
        self.numfmts = {}
        nf = st.find('m:numFmts', NS)
        if nf is not None:
            for f in nf.findall('m:numFmt', NS):
                self.numfmts[int(f.get('numFmtId'))] = f.get('formatCode')
        self.xf = []
        cx = st.find('m:cellXfs', NS)
        for x in cx.findall('m:xf', NS):
            self.xf.append(int(x.get('numFmtId', '0')))

    def fmt(self, s):
        nid = self.xf[s] if s is not None and s < len(self.xf) else 0
        return nid, self.numfmts.get(nid, 'builtin:%d' % nid)

    def sheet(self, name):
        for n, t in self.sheets:
            if n == name:
                return Sheet(self, ET.fromstring(self.z.read(t)))
        raise KeyError(name)

class Sheet:
    def __init__(self, wb, root):
        self.root = root
        self.rows = []   # list of list of (value, style)
        for row in root.iter('{%s}row' % NS['m']):
            r = {}
            col = -1
            for c in row.findall('m:c', NS):
                ref = c.get('r')
                col = col2idx(re.match(r'[A-Z]+', ref).group(0)) if ref else col + 1
                t = c.get('t')
                s = c.get('s')
                s = int(s) if s is not None else None
                v = c.find('m:v', NS)
                if t == 's':
                    val = wb.shared[int(v.text)]
                elif t == 'inlineStr':
                    val = ''.join(x.text or '' for x in c.iter('{%s}t' % NS['m']))
                elif t == 'str':
                    val = v.text if v is not None else ''
                elif t == 'b':
                    val = bool(int(v.text))
                elif v is None:
                    val = None
                else:
                    val = ('num', v.text)
                r[col] = (val, s)
            n = max(r) + 1 if r else 0
            self.rows.append([r.get(i, (None, None)) for i in range(n)])
        self.wb = wb

    def pane(self):
        p = self.root.find('.//m:sheetView/m:pane', NS)
        return None if p is None else dict(p.attrib)

    def autofilter(self):
        a = self.root.find('m:autoFilter', NS)
        return None if a is None else a.get('ref')

    def cols(self):
        c = self.root.find('m:cols', NS)
        return [] if c is None else [dict(x.attrib) for x in c.findall('m:col', NS)]

    def table(self):
        """header list and list of dict rows (value only; numbers as str)"""
        hdr = [v for v, _ in self.rows[0]]
        out = []
        for r in self.rows[1:]:
            d = {}
            for i, h in enumerate(hdr):
                v = r[i][0] if i < len(r) else None
                d[h] = v
            out.append(d)
        return hdr, out

if __name__ == '__main__':
    wb = Workbook(sys.argv[1])
    for n, t in wb.sheets:
        sh = wb.sheet(n)
        print('==', n, 'rows', len(sh.rows), 'pane', sh.pane(), 'af', sh.autofilter(), 'cols', len(sh.cols()))
        for r in sh.rows[:int(sys.argv[2]) if len(sys.argv) > 2 else 3]:
            print('  ', [(v, wb.fmt(s)[1] if s is not None else None) for v, s in r])
