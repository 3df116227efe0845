// What the runtime stored: every Durable Object database under a persistence directory, read
// from a copy with Python's sqlite3 (the runtime's own files are never touched).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Lists every database under `dir`: {namespace: {file: {tables: {name: rows}}}} — user tables
 * only (not `_cf_*`, `sqlite_*`), plus the runtime's alarm table of each namespace. Read-only
 * use of a copy, so the runtime's own files are never touched. */
const LIST_DATABASES = `
import json, os, sqlite3, sys
out = {}
for ns in sorted(os.listdir(sys.argv[1])):
    d = os.path.join(sys.argv[1], ns)
    if not os.path.isdir(d):
        continue
    for f in sorted(os.listdir(d)):
        if not f.endswith('.sqlite'):
            continue
        db = sqlite3.connect(os.path.join(d, f))
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        tables = {}
        for n in names:
            if f == 'metadata.sqlite' and n == '_cf_ALARM':
                tables[n] = [list(r) for r in db.execute('SELECT actor_id, scheduled_time FROM _cf_ALARM')]
            elif not (n.startswith('_cf_') or n.startswith('sqlite_')):
                tables[n] = [list(r) for r in db.execute('SELECT * FROM "%s"' % n.replace('"', '""'))]
        db.close()
        out.setdefault(ns, {})[f[:-len('.sqlite')]] = tables
print(json.dumps(out))
`;

export function listDatabases(persistDir) {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-hygiene-copy-'));
  try {
    fs.cpSync(persistDir, copy, { recursive: true });
    return JSON.parse(execFileSync('python3', ['-c', LIST_DATABASES, copy], { encoding: 'utf8' }));
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
}

/** Rewrites, in place (the server stopped), every database under `dir` that has table `table`:
 * `rewrite` is Python source defining `def rewrite(db, *args)` (`db` an sqlite3 connection;
 * `json`, `os`, `sqlite3` imported), called once per such database with `args` (strings), its
 * changes committed after. Returns what each call returned (JSON), in no particular order. The
 * tests use it to recreate what an older release stored. */
export function rewriteDatabases(dir, table, rewrite, args = []) {
  const script = `
import json, os, sqlite3, sys
${rewrite}
results = []
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if not f.endswith('.sqlite'):
            continue
        db = sqlite3.connect(os.path.join(root, f))
        if db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = ?", (sys.argv[2],)).fetchone()[0]:
            results.append(rewrite(db, *sys.argv[3:]))
            db.commit()
        db.close()
print(json.dumps(results))
`;
  return JSON.parse(execFileSync('python3', ['-c', script, dir, table, ...args.map(String)], { encoding: 'utf8' }));
}
