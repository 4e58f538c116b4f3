import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRoutingRules } from '../../annotation/routing';
import { samplePlantedValues, sampleItems } from '../../annotation/sample-items';
import { startAnnotationServer, type AnnotationServer } from '../../annotation/server';
import { openQueueStore, type QueueStore } from '../../annotation/store';
import { ensureDebianPackages } from '../../deploy/stack/prerequisites';

/**
 * The annotator page in real headless Chromium (Debian's /usr/bin/chromium): sign in with a token, claim with the
 * keyboard, see the de-identified summary and the preview, label, submit, read one's own statistics. A screenshot
 * of a rendered item is saved (path printed) and checked for content.
 */
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const screenshotDir = path.resolve('data', 'e2e');

describe('annotator page in headless Chromium', () => {
  let store: QueueStore;
  let server: AnnotationServer;
  let browser: BrowserContext;
  let page: Page;
  let previewRoot: string;
  let profile: string;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    // A fresh CI machine has no browser: install Debian's chromium with the stack's helper (root + apt), or say how.
    if (!process.env.CHROMIUM_PATH) {
      await ensureDebianPackages(['chromium'], 'the annotator page browser test', (m) =>
        process.stderr.write(`[annotator e2e] ${m}\n`),
      );
    }
    previewRoot = mkdtempSync(path.join(os.tmpdir(), 'tributary-e2e-previews-'));
    profile = mkdtempSync(path.join(os.tmpdir(), 'tributary-e2e-profile-'));
    store = await openQueueStore({ dataDir: 'memory://' });
    const items = sampleItems(8);
    mkdirSync(path.join(previewRoot, 'sample'), { recursive: true });
    // A synthetic "axial slice": a bright disc with a small nodule on a dark field.
    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="#111"/>' +
        '<ellipse cx="128" cy="128" rx="110" ry="90" fill="#777"/><ellipse cx="90" cy="120" rx="35" ry="50" fill="#222"/>' +
        '<ellipse cx="166" cy="120" rx="35" ry="50" fill="#222"/><circle cx="170" cy="100" r="7" fill="#ddd"/></svg>',
    );
    for (const it of items)
      for (const p of it.previews ?? []) await sharp(svg).png().toFile(path.join(previewRoot, p.ref));
    await store.enqueue(items, loadRoutingRules());
    tokens.cardio = (
      await store.addUser({ id: 'dr-cardio', role: 'annotator', queues: ['cardiology'] })
    ).token;
    tokens.radio = (
      await store.addUser({ id: 'dr-radio', role: 'annotator', queues: ['radiology-chest'] })
    ).token;
    server = await startAnnotationServer({ store, port: 0, host: '127.0.0.1', previewRoot });
    // A fresh profile directory per run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      viewport: { width: 1100, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await store?.close();
    for (const d of [previewRoot, profile]) if (d) rmSync(d, { recursive: true, force: true });
  });

  async function signIn(token: string) {
    await page.goto(server.url + '/');
    await page.fill('#token', token);
    await page.press('#token', 'Enter');
    await page.waitForSelector('#work:not([hidden])');
  }

  it('rejects a bad token with a visible message', async () => {
    await page.goto(server.url + '/');
    await page.fill('#token', 'trb_wrongwrongwrongwrongwrong');
    await page.press('#token', 'Enter');
    await expect.poll(() => page.textContent('#signin-error')).toContain('unknown or revoked token');
  });

  it('claims with N, labels with 1, submits with Enter, and shows own statistics', async () => {
    await signIn(tokens.cardio);
    expect(await page.textContent('#who')).toBe('dr-cardio (annotator)');
    await page.keyboard.press('n');
    await page.waitForSelector('#item:not([hidden])');
    expect(await page.textContent('#item-title')).toMatch(/Emergency department note|Wearable rhythm flag/);
    await page.keyboard.press('4');
    expect(await page.getAttribute('#task-classification button:nth-child(4)', 'aria-pressed')).toBe('true');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#status')).toMatch(/^Submitted/);
    await page.click('#refresh-stats');
    await page.waitForSelector('#stats:not([hidden])');
    expect(await page.textContent('#stats-body')).toMatch(/cardiology\s*1\s*0/);
  });

  it('renders an imaging item with its preview; region drawing submits; screenshot saved and not blank', async () => {
    await page.evaluate('sessionStorage.clear()');
    await signIn(tokens.radio);
    await page.keyboard.press('n');
    await page.waitForSelector('#item-previews img');
    await page.waitForFunction(
      "(() => { const img = document.querySelector('#item-previews img'); return !!img && img.complete && img.naturalWidth === 256; })()",
    );
    expect(await page.textContent('#item-title')).toBe('CT chest without contrast');
    expect(await page.textContent('#item-meta')).toContain('CT · CHEST');
    const box = (await page.locator('#item-previews img').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.33);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.74, box.y + box.height * 0.46, { steps: 4 });
    await page.mouse.up();
    mkdirSync(screenshotDir, { recursive: true });
    const file = path.join(screenshotDir, 'annotator-page.png');
    await page.screenshot({ path: file, fullPage: true });
    process.stderr.write(`annotator page screenshot: ${file}\n`);
    const stats = await sharp(file).stats();
    // A rendered item has text, buttons and a mostly dark preview: far from a blank page.
    expect(stats.channels[0].stdev).toBeGreaterThan(20);
    const html = await page.content();
    for (const v of samplePlantedValues()) expect(html).not.toContain(v);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#status')).toMatch(/^Submitted/);
    const rows = await store.exportRows('radiology-chest');
    const region = rows.flatMap((r) => r.labels).find((l) => l.annotator === 'dr-radio')!.labels as {
      regions: { label: string; x: number }[];
    };
    expect(region.regions).toHaveLength(1);
    expect(region.regions[0].label).toBe('nodule');
    expect(region.regions[0].x).toBeGreaterThan(0.5);
  });
});
