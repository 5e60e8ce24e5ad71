/**
 * A real browser for the tests: Debian's chromium (/usr/bin/chromium), headless, driven by
 * puppeteer-core over a debugging pipe (no port to find or to leak), with a fresh profile in a
 * temporary folder. Both are closed and removed when the test ends.
 *
 * Where chromium is missing the test skips with a message; under CI=true it fails instead
 * (.ci/run installs chromium).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { CI, which } from '../clients/client-kit.js';

export type { Browser, Page };

export const CHROMIUM = process.env['FASTDAV_TEST_CHROMIUM'] ?? '/usr/bin/chromium';

interface TapLike {
  teardown(fn: () => unknown): void;
  fail(message: string): void;
}

/** False when chromium can run here; otherwise the reason to skip (and a failure under CI=true). */
export function browserMissing(t: TapLike): string | false {
  if (which(CHROMIUM) !== null) return false;
  const reason = `needs ${CHROMIUM} (apt-get install chromium)`;
  if (CI) t.fail(`${reason}: under CI=true the browser tests must run (.ci/run installs it)`);
  return reason;
}

export interface BrowserOptions {
  /** Window size of new pages (default 1280×800). */
  readonly width?: number;
  readonly height?: number;
  /** prefers-color-scheme the pages see (default light). */
  readonly colorScheme?: 'light' | 'dark';
}

/** Starts chromium for one test; closed (and its profile removed) at teardown. */
export async function launchBrowser(t: TapLike, options: BrowserOptions = {}): Promise<Browser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'fastdav-chromium-'));
  const width = options.width ?? 1280;
  const height = options.height ?? 800;
  const args = ['--no-first-run', '--no-default-browser-check', '--disable-extensions-except=', '--disable-background-networking', '--disable-dev-shm-usage',
    // Pages in the background keep their timers and rendering (uploads, recordings run there).
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
    `--window-size=${width},${height}`];
  // Chromium's own sandbox needs user namespaces that root (CI, containers) does not get.
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    pipe: true,
    userDataDir: profile,
    args,
    defaultViewport: { width, height },
    timeout: 60_000,
    protocolTimeout: 60_000,
    // FASTDAV_TEST_BROWSER_LOG=1 shows chromium's own output (crashes, console).
    dumpio: process.env['FASTDAV_TEST_BROWSER_LOG'] === '1',
  });
  t.teardown(async () => {
    await browser.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  });
  if (options.colorScheme) {
    const scheme = options.colorScheme;
    browser.on('targetcreated', (target) => {
      void target.page().then((p) => p?.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: scheme }]));
    });
  }
  return browser;
}

/**
 * A new page that answers the server's Basic challenge with these credentials, as a person
 * would in the browser's login dialog (the browser then keeps them for the origin).
 */
export async function pageAs(browser: Browser, credentials: { username: string; password: string } | null, options: BrowserOptions = {}): Promise<Page> {
  const page = await browser.newPage();
  if (options.width || options.height) await page.setViewport({ width: options.width ?? 1280, height: options.height ?? 800 });
  if (options.colorScheme) await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: options.colorScheme }]);
  if (credentials) await page.authenticate(credentials);
  return page;
}
