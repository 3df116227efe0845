// The browser the browser tests drive: an installed Chromium or Chrome, launched headless by
// playwright-core (which never downloads one). `CHROMIUM_PATH` names it; otherwise the usual
// places of Linux distributions, macOS and Homebrew are tried, then the names on the PATH.
// No browser found is an error that says what to install — a browser test is never skipped.
//
// As a script (`node tests/support/browser.mjs`) it prints the path it would use, or the
// reason it has none and exits 1: the Makefile asks it before installing anything.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const KNOWN = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/opt/homebrew/bin/chromium',
  '/usr/local/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];
const NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome'];

const isExecutable = (file) => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

/** The browser's executable; throws with what to do when there is none. */
export function chromiumPath(env = process.env) {
  if (env.CHROMIUM_PATH) {
    if (isExecutable(env.CHROMIUM_PATH)) return env.CHROMIUM_PATH;
    throw new Error(`CHROMIUM_PATH=${env.CHROMIUM_PATH} is not an executable file`);
  }
  const onPath = (env.PATH ?? '').split(path.delimiter).filter(Boolean)
    .flatMap((dir) => NAMES.map((name) => path.join(dir, name)));
  const found = [...KNOWN, ...onPath].find(isExecutable);
  if (found) return found;
  throw new Error('no Chromium or Chrome found for the browser tests: install one '
    + '(Debian/Ubuntu: apt-get install chromium; Fedora: dnf install chromium; Arch: pacman -S chromium; '
    + 'macOS: brew install --cask chromium) or set CHROMIUM_PATH to its executable');
}

/** Headless Chromium for a test file (playwright-core is imported only when a test needs it). */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // No background traffic: the machines the tests run on may have no network at all.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    console.log(chromiumPath());
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
