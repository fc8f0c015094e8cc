// dashboard.mjs - drives Conveyor's dashboard in the system's headless
// Chromium (puppeteer-core: it never downloads a browser) for
// tests/integration/test_dashboard.sh.
//
//   CONVEYOR_URL=http://127.0.0.1:PORT/ CONVEYOR_ADMIN_TOKEN=... \
//   CHROMIUM=/usr/bin/chromium SCREENSHOT=out.png node dashboard.mjs
//
// Checks: the page loads without a console error or a failed request; with
// the token it shows the running domains' partitions and their lag; a
// route paused from the page shows as paused (the shell test then checks
// conveyor.controls). Prints one line per step; exits 1 on the first
// failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const url = process.env.CONVEYOR_URL;
const token = process.env.CONVEYOR_ADMIN_TOKEN;
const route = process.env.PAUSE_ROUTE || 'leads/marketplace.lead.submitted';
const shot = process.env.SCREENSHOT;
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const limitMs = 60000;

function fail(msg) {
  throw new Error(msg);
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-chromium-'));
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  userDataDir: profile,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage'],
});
const problems = [];
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1300 });
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('requestfailed', (r) => problems.push('request failed: ' + r.url()));
  page.on('response', (r) => { if (r.status() >= 400) problems.push('HTTP ' + r.status() + ': ' + r.url()); });

  await page.goto(url, { waitUntil: 'load', timeout: limitMs });
  console.log('loaded ' + url + ': ' + await page.title());
  await page.type('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#partitions tr[data-group]', { timeout: limitMs })
    .catch(() => fail('no partition rows within ' + limitMs / 1000 + ' s'));
  const groups = await page.$$eval('#partitions tr[data-group]',
    (rows) => [...new Set(rows.map((r) => r.dataset.group))]);
  const lagCells = await page.$$eval('#partitions td.lag', (tds) => tds.map((t) => t.textContent));
  console.log('groups shown: ' + groups.join(', ') + '; lag cells: ' + lagCells.length);
  for (const g of (process.env.EXPECT_GROUPS || '').split(',').filter(Boolean))
    if (!groups.includes(g)) fail('group ' + g + ' not shown');
  if (!lagCells.length || lagCells.some((t) => t === ''))
    fail('lag not shown');

  // pause a route from the page
  const row = 'tr[data-scope="route"][data-target="' + route + '"]';
  await page.waitForSelector(row + ' button.pause', { timeout: limitMs });
  await page.type('#switch-reason', 'paused from the dashboard test');
  await page.click(row + ' button.pause');
  await page.waitForSelector(row + '.paused', { timeout: limitMs })
    .catch(() => fail('route ' + route + ' not shown paused'));
  console.log('paused ' + route + ' from the page');
  await page.type('input.filter[data-list="targets"]', 'route');
  await new Promise((r) => setTimeout(r, 200)); // one frame for the filter
  const hidden = await page.$$eval('#targets tr', (rows) => rows.filter((r) => r.hidden).length);
  if (!hidden) fail('the switches filter hid nothing');
  await page.$eval('input.filter[data-list="targets"]', (i) => { i.value = ''; i.dispatchEvent(new Event('input')); });
  if (shot) {
    await page.screenshot({ path: shot, fullPage: true });
    console.log('screenshot ' + shot);
  }
  if (problems.length) fail(problems.join('; '));
  console.log('ok');
} catch (e) {
  console.error('FAIL: ' + e.message);
  process.exitCode = 1;
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
