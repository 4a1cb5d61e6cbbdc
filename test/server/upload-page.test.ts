// The upload page in a real browser: Debian's headless Chromium driven by playwright-core (no
// browser download), a fresh profile, the app on a real socket. The page must work under its own
// strict CSP: no console errors, no CSP violations.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedPredictions, fixture, startApp } from './helpers.ts';
import { makeRepository, removeRepository, startRepositoryApp } from './repository/fixture-repository.ts';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const jpegPath = fileURLToPath(new URL('../fixtures/images/landscape-500x375.jpg', import.meta.url));

let app: FastifyInstance;
let base: string;
let profile: string;
let context: BrowserContext;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  app = await startApp();
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning')
      problems.push(`${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  await page.goto(`${base}/`);
});

afterAll(async () => {
  await context?.close();
  await app?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function results(on: Page = page): Promise<{ label: string; score: string; width: number }[]> {
  await on.locator('#results li').nth(4).waitFor({ timeout: 15_000 });
  return on.locator('#results li').evaluateAll((items) =>
    items.map((item) => ({
      label: item.querySelector('.label')!.textContent!,
      score: item.querySelector('.score')!.textContent!,
      width: item.querySelector('.bar')!.getBoundingClientRect().width,
    })),
  );
}

/** The score as the page writes it: a percentage, two decimals below 1%. */
const percent = (score: number) => `${(score * 100).toFixed(score < 0.01 ? 2 : 1)}%`;

describe('the upload page in headless Chromium', () => {
  it('shows no image before one is chosen (no broken-image icon, no alt text), and no results', async () => {
    const preview = await page.locator('#preview').evaluate((img) => {
      // Runs in the page (the test's tsconfig has no DOM types, hence the local shape).
      const { getComputedStyle } = globalThis as unknown as { getComputedStyle(e: unknown): { display: string } };
      const box = img.getBoundingClientRect();
      return { display: getComputedStyle(img).display, width: box.width, height: box.height };
    });
    expect(preview).toEqual({ display: 'none', width: 0, height: 0 });
    expect(await page.locator('#preview').isVisible()).toBe(false);
    expect(await page.locator('#scale').isVisible()).toBe(false);
    expect(await page.locator('#results li').count()).toBe(0);
  });

  it('shows the seeded-weights note and the precision', async () => {
    await expect(page.locator('#seeded-note').isVisible()).resolves.toBe(true);
    expect(await page.locator('#seeded-note').textContent()).toContain('meaningless');
    expect(await page.locator('#precision').textContent()).toBe('fp32');
  });

  it('classifies a picked file: shows the image and the top 5 with bars, as the API ranks them', async () => {
    await page.setInputFiles('#file', jpegPath);
    const shown = await results();
    const expected = await expectedPredictions(app, fixture('landscape-500x375.jpg'), 5);
    expect(shown.map((r) => r.label)).toEqual(expected.map((p) => p.label));
    expect(shown.map((r) => r.score)).toEqual(expected.map((p) => percent(p.score)));
    // Bars are relative to the top score (seeded weights give every class about 1/classes): the
    // top one spans the whole row, the others their share of it.
    const track = await page
      .locator('#results li')
      .first()
      .evaluate((item) => item.getBoundingClientRect().width);
    expect(track).toBeGreaterThan(100);
    expect(shown[0]!.width).toBeCloseTo(track, 0);
    shown.forEach((row, i) => expect(row.width).toBeCloseTo((track * expected[i]!.score) / expected[0]!.score, 0));
    expect(await page.locator('#scale').isVisible()).toBe(true);
    const natural = await page.locator('#preview').evaluate((img) => {
      const image = img as unknown as { decode(): Promise<void>; naturalWidth: number };
      return image.decode().then(() => image.naturalWidth);
    });
    expect(natural).toBe(500);
    expect(await page.locator('#status').textContent()).toContain(
      'Seeded weights: these labels and scores are meaningless',
    );
  });

  it('classifies a dropped file', async () => {
    await page.locator('#results').evaluate((list) => list.replaceChildren());
    const png = fixture('tiny-120x90.png').toString('base64');
    // Runs in the page (the test's tsconfig has no DOM types, hence the local shape).
    type PageGlobals = {
      DataTransfer: new () => { items: { add(file: unknown): void } };
      File: new (parts: unknown[], name: string, options: { type: string }) => unknown;
    };
    const transfer = await page.evaluateHandle((data) => {
      const { DataTransfer, File } = globalThis as unknown as PageGlobals;
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
      return dt;
    }, png);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
    const shown = await results();
    const expected = await expectedPredictions(app, fixture('tiny-120x90.png'), 5);
    expect(shown.map((r) => r.label)).toEqual(expected.map((p) => p.label));
  });

  it('shows the error code when the file is not an image', async () => {
    await page.setInputFiles('#file', {
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('not an image'),
    });
    await page.locator('#status.error').waitFor({ timeout: 15_000 });
    expect(await page.locator('#status').textContent()).toContain('UNSUPPORTED_MEDIA_TYPE');
  });

  it('ran without console errors or CSP violations (the failed upload above aside)', () => {
    expect(problems.filter((p) => !p.includes('415'))).toEqual([]);
  });
});

describe('the upload page with several models', () => {
  let root: string;
  let repository: FastifyInstance;
  let picker: Page;
  const pickerProblems: string[] = [];
  beforeAll(async () => {
    root = makeRepository({
      resnet50: { versions: { '1': 'tiny50', '2': 'tiny50' } },
      resnet18: { versions: { '1': 'tiny18' } },
    });
    repository = await startRepositoryApp(root, { DEFAULT_MODEL: 'resnet50' });
    const url = await repository.listen({ host: '127.0.0.1', port: 0 });
    picker = await context.newPage();
    picker.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') pickerProblems.push(message.text());
    });
    picker.on('pageerror', (err) => pickerProblems.push(err.message));
    await picker.goto(`${url}/`);
  });
  afterAll(async () => {
    await picker?.close();
    await repository?.close();
    removeRepository(root);
  });

  it('offers every served model, the default one selected', async () => {
    const options = await picker.locator('#model option').evaluateAll((items) =>
      items.map((item) => ({
        value: item.getAttribute('value'),
        text: item.textContent,
        selected: (item as unknown as { selected: boolean }).selected,
      })),
    );
    expect(options).toEqual([
      { value: 'resnet18', text: expect.stringContaining('version 1'), selected: false },
      { value: 'resnet50', text: expect.stringContaining('version 2'), selected: true },
    ]);
  });

  it('classifies with the model picked, and again with the next one picked: each answer is that model’s own', async () => {
    const expected = async (name: string) =>
      (await expectedPredictions(repository, fixture('landscape-500x375.jpg'), 5, name)).map((p) => percent(p.score));
    await picker.selectOption('#model', 'resnet18');
    await picker.setInputFiles('#file', jpegPath);
    expect((await results(picker)).map((r) => r.score)).toEqual(await expected('resnet18'));
    // Picking another model classifies the same image again.
    await picker.selectOption('#model', 'resnet50');
    expect((await results(picker)).map((r) => r.score)).toEqual(await expected('resnet50'));
    expect(await expected('resnet50')).not.toEqual(await expected('resnet18'));
  });

  it('ran without console errors or CSP violations', () => {
    expect(pickerProblems).toEqual([]);
  });

  it('lets the server close in seconds with the page open: the browser’s spare connections do not hold it', async () => {
    // Chromium keeps a connection open ahead of need; server.close() alone waited ~100 s for it.
    const started = Date.now();
    await repository.close();
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
