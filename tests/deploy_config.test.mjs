// The committed wrangler.toml is what users deploy; the integration tests run the worker with
// options mirrored from it (tests/support/server.mjs). This keeps the two in step, and checks
// the deployable shape: SQLite-backed classes, no DEV_MODE in the deploy config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { unstable_readConfig } from 'wrangler';
import { ROOT, workerOptions, COMPATIBILITY_DATE } from './support/server.mjs';

const config = unstable_readConfig({ config: path.join(ROOT, 'wrangler.toml') });

test('the test server mirrors wrangler.toml', () => {
  const opts = workerOptions();
  assert.equal(config.compatibility_date, COMPATIBILITY_DATE);
  assert.ok(config.compatibility_date <= '2026-04-26', 'wrangler 4.86 / workerd 2026-04-26 cannot run a later date');
  const bindings = Object.fromEntries(config.durable_objects.bindings.map((b) => [b.name, b.class_name]));
  const mirrored = Object.fromEntries(Object.entries(opts.durableObjects).map(([k, v]) => [k, v.className]));
  assert.deepEqual(mirrored, bindings);
  assert.equal(path.resolve(config.main), opts.scriptPath);
  const limits = Object.fromEntries((config.ratelimits ?? []).map((r) => [r.name, { simple: r.simple }]));
  assert.deepEqual(limits, opts.ratelimits, 'the per-IP limiter (IP_LIMITER) is mirrored');
});

test('every Durable Object class is SQLite-backed through a migration', () => {
  const sqlite = config.migrations.flatMap((m) => m.new_sqlite_classes ?? []);
  const legacy = config.migrations.flatMap((m) => m.new_classes ?? []);
  assert.deepEqual(legacy, []);
  for (const b of config.durable_objects.bindings) assert.ok(sqlite.includes(b.class_name), b.class_name);
});

test('the deploy config never enables DEV_MODE or commits secrets', () => {
  for (const name of ['DEV_MODE', 'AUTH_SECRET', 'ADMIN_TOKEN']) {
    assert.equal(config.vars?.[name], undefined, `${name} must not be in wrangler.toml [vars]`);
  }
});

test('Workers Logs are on, every line kept; the METRICS dataset is offered but off', async () => {
  assert.equal(config.observability?.enabled, true, '[observability] enabled = true');
  assert.equal(config.observability?.head_sampling_rate, 1, 'every line (we log no message, no refusal)');
  // Off by default: deploying must not need an Analytics Engine dataset.
  assert.deepEqual(config.analytics_engine_datasets ?? [], []);
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(path.join(ROOT, 'wrangler.toml'), 'utf8');
  assert.match(text, /^# \[\[analytics_engine_datasets\]\]\n# binding = "METRICS"\n# dataset = "edge_chat"$/m);
});

test('docs/operations.md explains every log line the worker writes; the Grafana dashboard parses and queries the dataset', async () => {
  const { readFile, readdir } = await import('node:fs/promises');
  const ops = await readFile(path.join(ROOT, 'docs/operations.md'), 'utf8');
  const whats = new Set();
  const walk = async (dir) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (p.endsWith('.rs')) {
        const text = await readFile(p, 'utf8');
        for (const m of text.matchAll(/log::(?:warn|error)\(\s*"([^"]+)"/g)) whats.add(m[1]);
      }
    }
  };
  await walk(path.join(ROOT, 'src'));
  assert.ok(whats.size >= 15, `found the log call sites (${[...whats]})`);
  for (const what of whats) assert.ok(ops.includes(`\`${what}\``), `docs/operations.md#logs explains \`${what}\``);
  const dashboard = JSON.parse(await readFile(path.join(ROOT, 'docs/grafana-dashboard.json'), 'utf8'));
  assert.ok(dashboard.panels.length >= 8);
  for (const p of dashboard.panels) {
    for (const t of p.targets) assert.match(t.query, /FROM edge_chat WHERE blob1 = '(room|front|webhooks|registry)'/, p.title);
  }
});
