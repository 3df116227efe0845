// The client library as a package someone installs: `npm pack` of a clean copy of client/ (no
// dist/: the pack must build it), the tarball installed into a fresh scratch project, and from
// there — `import` and `require` (each its own build), a TypeScript consumer type-checked by the
// repository's pinned tsc as ESM, as CommonJS (nodenext, and node16, which refuses ESM
// declarations to CommonJS code) and for a bundler (each against its own declarations), and
// the README's Node snippet chatting with the built worker in workerd: with
// `ws` passed as `WebSocket`, and without it (the global one on Node ≥ 22; on Node 20 the error
// says what to pass).
//
// No network: the tarball, and `ws`, `@types/ws` and `@types/node` linked from the repository's
// node_modules, install with `npm install --offline`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, ROOT } from './support/server.mjs';

const CLIENT = path.join(ROOT, 'client');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const PUBLIC_API = ['ChatError', 'MessageStates', 'Room', 'RoomView', 'Session', 'connect', 'createSession', 'fetchHistory', 'fetchMembers', 'tokenExpiry', 'utf8Length'];
const INTERNALS = ['Backoff', 'Emitter', 'HeartbeatSchedule', 'OutboundQueue', 'ResumeTracker', 'SharedBackoff', 'backoffDelay'];

/** Runs `cmd` (our own child, killed after `ms`): `{code, out, err}`. */
function run(cmd, args, { cwd, env = {}, ms = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', reject);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out, err }); });
  });
}

/** `run`, failing with the command's output unless it exits 0. */
async function ok(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}\n${r.out}\n${r.err}`);
  return r;
}

const write = (file, text) => { fs.mkdirSync(path.dirname(file), { recursive: true }); fs.writeFileSync(file, text); };
const json = (v) => JSON.stringify(v, null, 2);

let dir, app, tarball, packed, server;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-chat-client-package-'));
  // A clean checkout of client/: what git has, without the builds a developer may have made,
  // beside the repository's installed devDependencies (tsc, React's types for the react entry),
  // as after `npm install` — in a folder of its own, so the scratch project below sees none.
  const checkout = path.join(dir, 'checkout');
  const src = path.join(checkout, 'client');
  fs.mkdirSync(checkout);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'), 'dir');
  fs.cpSync(CLIENT, src, {
    recursive: true,
    filter: (p) => !['dist', 'test-dist', 'node_modules'].includes(path.relative(CLIENT, p).split(path.sep)[0]),
  });
  // The repository's pinned tsc on the PATH, as `npm run` puts it there for client/ itself.
  await ok('npm', ['pack', '--pack-destination', dir], { cwd: src, env: { PATH: `${path.join(ROOT, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH}` } });
  tarball = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.tgz')));
  packed = (await ok('tar', ['tzf', tarball])).out.trim().split('\n').map((f) => f.replace(/^package\//, '')).sort();
  // The scratch project: the tarball, `ws` (for Node 20) and the types of Node and `ws`, nothing
  // from the network.
  app = path.join(dir, 'app');
  write(path.join(app, 'package.json'), json({ name: 'scratch', private: true }));
  await ok('npm', ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', tarball,
    ...['ws', '@types/ws', '@types/node', '@types/react', 'csstype'].map((dep) => path.join(ROOT, 'node_modules', dep))], { cwd: app });
  server = await startServer();
}, { timeout: 240_000 });

after(async () => {
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const installed = (...p) => path.join(app, 'node_modules', '@edge-chat', 'client', ...p);
const manifest = () => JSON.parse(fs.readFileSync(installed('package.json'), 'utf8'));

test('a pack from a clean checkout builds both module formats and ships only them, the README and the CHANGELOG', () => {
  const modules = fs.readdirSync(path.join(CLIENT, 'src')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));
  const expected = ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist/cjs/package.json', 'internal/package.json', 'react/package.json'];
  for (const m of modules) {
    for (const ext of ['.js', '.js.map', '.d.ts']) expected.push(`dist/${m}${ext}`, `dist/cjs/${m}${ext}`);
  }
  assert.deepEqual(packed, expected.sort());
  // Every file `exports` names (its leaves: the keys are subpaths) is in the package.
  const targets = (v) => (typeof v === 'string' ? [v.replace(/^\.\//, '')] : Object.values(v).flatMap(targets));
  for (const t of targets(manifest().exports)) assert.ok(packed.includes(t), `exports names ${t}, which is not packed`);
  // So do `main`/`types` and internal/package.json, for resolvers that ignore `exports`.
  const { main, types } = manifest();
  const legacy = (entry) => JSON.parse(fs.readFileSync(installed(entry, 'package.json'), 'utf8'));
  const pointers = ['internal', 'react'].flatMap((entry) => [legacy(entry).main, legacy(entry).types].map((f) => path.posix.join(entry, f)));
  for (const t of [main, types, ...pointers]) {
    assert.ok(packed.includes(path.posix.normalize(t)), `${t} is not packed`);
  }
  assert.equal(JSON.parse(fs.readFileSync(installed('dist', 'cjs', 'package.json'), 'utf8')).type, 'commonjs');
});

test('version 1.0.0, the CHANGELOG starting with it', () => {
  assert.equal(manifest().version, '1.0.0');
  assert.match(fs.readFileSync(installed('CHANGELOG.md'), 'utf8'), /^# Changelog[\s\S]*?\n## 1\.0\.0\b/);
});

test('every shipped module has a source map carrying its TypeScript source', () => {
  const modules = packed.filter((f) => f.endsWith('.js'));
  assert.ok(modules.includes('dist/index.js') && modules.includes('dist/cjs/index.js'), 'both builds are packed');
  for (const js of modules) {
    const code = fs.readFileSync(installed(js), 'utf8');
    assert.match(code, new RegExp(`//# sourceMappingURL=${path.basename(js)}\\.map\\n?$`), js);
    const map = JSON.parse(fs.readFileSync(installed(`${js}.map`), 'utf8'));
    assert.equal(map.sources.length, 1, js);
    const source = path.join(CLIENT, 'src', `${path.basename(js, '.js')}.ts`);
    assert.equal(path.resolve(path.dirname(installed(js)), map.sourceRoot ?? '', map.sources[0]).endsWith(`src${path.sep}${path.basename(source)}`), true, `${js}: ${map.sources[0]}`);
    assert.equal(map.sourcesContent?.[0], fs.readFileSync(source, 'utf8'), `${js}: its source is in the map`);
  }
});

/** What a program sees of the package: the public entry's exports, the internal entry's, and
 * which file each resolved to. */
const SURFACE = {
  esm: `import * as pub from '@edge-chat/client';
import * as internal from '@edge-chat/client/internal';
console.log(JSON.stringify({ pub: Object.keys(pub).sort(), internal: Object.keys(internal).sort(),
  file: import.meta.resolve('@edge-chat/client'), internalFile: import.meta.resolve('@edge-chat/client/internal'),
  chatError: new pub.ChatError('closed', 'x') instanceof Error }));`,
  cjs: `const pub = require('@edge-chat/client');
const internal = require('@edge-chat/client/internal');
console.log(JSON.stringify({ pub: Object.keys(pub).sort(), internal: Object.keys(internal).sort(),
  file: require.resolve('@edge-chat/client'), internalFile: require.resolve('@edge-chat/client/internal'),
  chatError: new pub.ChatError('closed', 'x') instanceof Error }));`,
};

for (const [mode, file, internalFile] of [['esm', 'dist/index.js', 'dist/internal.js'], ['cjs', 'dist/cjs/index.js', 'dist/cjs/internal.js']]) {
  test(`${mode === 'esm' ? 'import' : 'require'} loads the ${mode.toUpperCase()} build: the public API, internals only under /internal`, async () => {
    write(path.join(app, mode, 'surface.' + (mode === 'esm' ? 'mjs' : 'cjs')), SURFACE[mode]);
    const { out } = await ok(process.execPath, [`surface.${mode === 'esm' ? 'mjs' : 'cjs'}`], { cwd: path.join(app, mode) });
    const seen = JSON.parse(out);
    assert.deepEqual(seen.pub, PUBLIC_API);
    for (const name of INTERNALS) assert.ok(seen.internal.includes(name), `internal exports ${name}`);
    assert.ok(seen.file.endsWith(file), seen.file);
    assert.ok(seen.internalFile.endsWith(internalFile), seen.internalFile);
    assert.equal(seen.chatError, true);
  });
}

/** A TypeScript consumer of the public and the internal entry; `@ts-expect-error` marks what
 * must not type-check. */
const CONSUMER = `import {
  connect, createSession, fetchHistory, ChatError, MessageStates, tokenExpiry, utf8Length,
  type ConnectOptions, type MessageFrame, type Room, type Session, type WebSocketLike, type FailedEvent,
} from '@edge-chat/client';
import { OutboundQueue, ResumeTracker, Emitter, SharedBackoff, HeartbeatSchedule, backoffDelay } from '@edge-chat/client/internal';
// @ts-expect-error internals are not part of the public entry
import { OutboundQueue as NotPublic } from '@edge-chat/client';

declare const Socket: WebSocketLike;
const options: ConnectOptions = { url: 'ws://127.0.0.1:8787', room: 'lobby', getToken: async () => 'jwt', WebSocket: Socket };
const room: Room = connect(options);
room.on('message', (m: MessageFrame) => m.seq.toFixed());
room.on('failed', (f: FailedEvent) => f.code.toUpperCase());
// @ts-expect-error events are typed
room.on('message', (m: string) => m);
export const acked: Promise<number> = room.publish({ text: 'hi' }).then((a) => a.seq);
export const session: Session = createSession({ url: 'ws://x', token: 'jwt' });
export const page = fetchHistory({ url: 'http://x', room: 'lobby', token: 'jwt', limit: 10 }).then((p) => p.messages.length);
export const failure = new ChatError('closed', 'gone') instanceof Error;
export const states = new MessageStates();
export const sizes = [tokenExpiry('a.b.c'), utf8Length('é'), backoffDelay(1)];
export const parts = [new OutboundQueue(1), new ResumeTracker(), new Emitter<{ a: number }>(), new SharedBackoff(), new HeartbeatSchedule(1000), NotPublic];
`;

/** Node's part of the consumer: \`ws\`'s class passed as it is, no cast. */
const NODE_CONSUMER = `import WebSocket from 'ws';
export const viaWs: Room = connect({ url: 'ws://127.0.0.1:8787', room: 'lobby', token: 'jwt', WebSocket });
`;

/** A browser's part of the consumer: the DOM's WebSocket passed as it is, no cast. */
const DOM_CONSUMER = `export const viaDom: Room = connect({ url: 'wss://chat.example', room: 'lobby', token: 'jwt', WebSocket: globalThis.WebSocket });
`;

for (const [mode, pkgType, compilerOptions, declarations] of [
  ['ESM (module nodenext)', 'module', { module: 'nodenext', lib: ['ES2022'], types: ['node'] }, 'dist/index.d.ts'],
  ['CommonJS (module nodenext)', 'commonjs', { module: 'nodenext', lib: ['ES2022'], types: ['node'] }, 'dist/cjs/index.d.ts'],
  // node16 does not let CommonJS require an ES module: CommonJS code given ESM declarations fails.
  ['CommonJS (module node16)', 'commonjs', { module: 'node16', lib: ['ES2022'], types: ['node'] }, 'dist/cjs/index.d.ts'],
  // TypeScript's default for `module: commonjs` (ts-jest, older projects): no `exports`, so
  // `main`/`types` and, for /internal, internal/package.json.
  ['CommonJS (module commonjs, node10 resolution)', 'commonjs', { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true, lib: ['ES2022'], types: ['node'] }, 'dist/cjs/index.d.ts'],
  ['a bundler (moduleResolution bundler, DOM)', 'module', { module: 'esnext', moduleResolution: 'bundler', lib: ['ES2022', 'DOM'], types: [] }, 'dist/index.d.ts'],
]) {
  test(`a TypeScript consumer type-checks as ${mode}, against ${declarations}`, { timeout: 120_000 }, async () => {
    const project = path.join(app, `ts-${pkgType}-${compilerOptions.module}`);
    write(path.join(project, 'package.json'), json({ type: pkgType }));
    const platform = compilerOptions.types.includes('node') ? NODE_CONSUMER : '';
    write(path.join(project, 'consumer.ts'), CONSUMER + platform + (compilerOptions.lib.includes('DOM') ? DOM_CONSUMER : ''));
    write(path.join(project, 'tsconfig.json'), json({
      compilerOptions: { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, ...compilerOptions },
      files: ['consumer.ts'],
    }));
    const { out } = await ok(process.execPath, [TSC, '-p', 'tsconfig.json', '--listFiles'], { cwd: project });
    const ours = out.split('\n').filter((f) => f.includes(`${path.sep}@edge-chat${path.sep}client${path.sep}`));
    assert.ok(ours.some((f) => f.endsWith(`client/${declarations}`)), `resolved to ${declarations}:\n${ours.join('\n')}`);
    const otherFormat = declarations.startsWith('dist/cjs/') ? (f) => /\/dist\/[^/]+\.d\.ts$/.test(f) : (f) => f.includes('/dist/cjs/');
    assert.ok(!ours.some(otherFormat), `only one format's declarations:\n${ours.join('\n')}`);
  });
}

/** A React consumer of the react entry (React's types installed, as an app has them). */
const REACT_CONSUMER = `import { SessionProvider, useSession, useRoom, useUnread, type UseRoom } from '@edge-chat/client/react';
import type { Session } from '@edge-chat/client';
export function useLobby(session: Session): UseRoom<{ text: string }> {
  const lobby = useRoom<{ text: string }>('lobby', { session });
  // @ts-expect-error the data type is checked
  void lobby.publish({ text: 1 });
  return lobby;
}
export const parts = [SessionProvider, useSession, useUnread];
`;

for (const [mode, pkgType] of [['ESM', 'module'], ['CommonJS', 'commonjs']]) {
  test(`a React consumer type-checks against the react entry, as ${mode}`, { timeout: 120_000 }, async () => {
    const project = path.join(app, `react-${pkgType}`);
    write(path.join(project, 'package.json'), json({ type: pkgType }));
    write(path.join(project, 'consumer.ts'), REACT_CONSUMER);
    write(path.join(project, 'tsconfig.json'), json({
      compilerOptions: { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, module: 'nodenext', lib: ['ES2022', 'DOM'], types: [] },
      files: ['consumer.ts'],
    }));
    const { out } = await ok(process.execPath, [TSC, '-p', 'tsconfig.json', '--listFiles'], { cwd: project });
    const want = pkgType === 'module' ? 'client/dist/react.d.ts' : 'client/dist/cjs/react.d.ts';
    assert.ok(out.split('\n').some((f) => f.endsWith(want)), `resolved to ${want}`);
  });
}

/** The Node snippet of client/README.md, as it is there. */
function readmeSnippet() {
  const readme = fs.readFileSync(path.join(CLIENT, 'README.md'), 'utf8');
  const m = readme.match(/<!-- node-snippet[^>]*-->\s*```js\n([\s\S]*?)```/);
  assert.ok(m, 'client/README.md has a Node snippet (a ```js block after <!-- node-snippet -->)');
  return m[1];
}

/** Runs `code` (an ES module) in the scratch project against the worker; resolves once it has
 * published and seen its message come back, then stops it with SIGINT (it closes the room). */
function chat(code) {
  const file = path.join(app, 'esm', 'chat.mjs');
  write(file, code);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: path.dirname(file), env: { ...process.env, CHAT_URL: server.url }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let interrupted = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000); // only our own child
    const check = () => {
      const acked = out.match(/acked (\d+)/);
      if (!interrupted && acked && out.includes(`#${acked[1]} alice: {"text":"hello from Node"}`)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.on('data', (d) => { out += d; check(); });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out, err, interrupted }); });
  });
}

test('the README\'s Node snippet chats with the worker, `ws` passed as WebSocket, and exits on SIGINT', { timeout: 60_000 }, async () => {
  const r = await chat(readmeSnippet());
  assert.ok(r.interrupted, `published and got its message back:\n${r.out}\n${r.err}`);
  assert.equal(r.code, 0, `closed the room and exited:\n${r.out}\n${r.err}`);
});

test(`the README's Node snippet without its WebSocket line: ${NODE_MAJOR >= 22 ? 'chats over the global WebSocket' : 'on Node 20 fails saying to pass one'}`, { timeout: 60_000 }, async () => {
  const code = readmeSnippet();
  const lines = code.split('\n');
  const kept = lines.filter((l) => !/^\s*WebSocket,/.test(l));
  assert.equal(lines.length - kept.length, 1, 'the snippet passes `WebSocket,` on a line of its own');
  const r = await chat(kept.join('\n'));
  if (NODE_MAJOR >= 22) {
    assert.ok(r.interrupted, `published and got its message back:\n${r.out}\n${r.err}`);
    assert.equal(r.code, 0, `closed the room and exited:\n${r.out}\n${r.err}`);
  } else {
    assert.equal(typeof globalThis.WebSocket, 'undefined', 'Node 20 has no global WebSocket');
    assert.notEqual(r.code, 0);
    assert.match(r.err, /no WebSocket available: pass one as `WebSocket`/);
  }
});
