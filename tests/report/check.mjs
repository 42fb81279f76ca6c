// Renders a dcconn HTML report in headless Chromium, takes a full-page screenshot, and checks
// that each expected figure is on the page with the expected text AND that the screenshot has
// ink where the figure is drawn; then that each bar is as long as its value says.
//
// usage: node check.mjs REPORT.html EXPECTED.json SCREENSHOT.png
//   EXPECTED.json: {"<data-figure>": "<text shown>", ...}
// Prints a JSON summary; exits 1 when anything is not as expected.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';

const [report, expectedFile, screenshot] = process.argv.slice(2);
const expected = JSON.parse(readFileSync(expectedFile, 'utf8'));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(pathToFileURL(report).href);
  const png = PNG.sync.read(await page.screenshot({ fullPage: true, path: screenshot }));

  // Dark pixels (text) inside a box of the full-page screenshot.
  const ink = (box) => {
    let dark = 0;
    for (let y = Math.floor(box.y); y < Math.ceil(box.y + box.height) && y < png.height; y++) {
      for (let x = Math.floor(box.x); x < Math.ceil(box.x + box.width) && x < png.width; x++) {
        const i = (png.width * y + x) * 4;
        const luminance = 0.299 * png.data[i] + 0.587 * png.data[i + 1] + 0.114 * png.data[i + 2];
        if (luminance < 140) dark++;
      }
    }
    return dark;
  };

  for (const [figure, text] of Object.entries(expected)) {
    const element = page.locator(`[data-figure="${figure.replaceAll('"', '\\"')}"]`).first();
    if ((await element.count()) === 0) {
      failures.push(`${figure}: not on the page`);
      continue;
    }
    const shown = (await element.textContent())?.trim();
    if (shown !== text) failures.push(`${figure}: shows ${JSON.stringify(shown)}, expected ${JSON.stringify(text)}`);
    const box = await element.boundingBox(); // the page is not scrolled: page coordinates
    if (!box || box.width < 1 || box.height < 1) failures.push(`${figure}: has no size on screen`);
    else if (ink(box) < 4) failures.push(`${figure}: the screenshot shows nothing where it is`);
  }

  // A bar is as long as its value relative to the largest bar of its chart.
  const bars = await page.$$eval('rect[data-bar]', (rects) => rects.map((rect) => ({
    bar: rect.getAttribute('data-bar'),
    width: rect.getBoundingClientRect().width,
  })));
  const values = await page.$$eval('svg text[data-figure]', (texts) => Object.fromEntries(
    texts.map((text) => [text.getAttribute('data-figure'), Number(text.textContent.replaceAll(',', ''))])));
  const charts = {};
  for (const { bar, width } of bars) {
    const chart = bar.slice(0, bar.indexOf(':'));
    (charts[chart] ??= []).push({ width, value: values[bar] });
  }
  for (const [chart, rows] of Object.entries(charts)) {
    const max = Math.max(...rows.map((row) => row.value));
    const longest = Math.max(...rows.map((row) => row.width));
    for (const row of rows) {
      const expectedWidth = (row.value / max) * longest;
      if (Math.abs(row.width - expectedWidth) > 1.5) {
        failures.push(`chart ${chart}: a bar of ${row.value} is ${row.width}px, expected ${expectedWidth.toFixed(1)}px`);
      }
    }
  }
  // Every text of a chart is drawn whole, inside its chart (a long label is not cut off).
  const clipped = await page.$$eval('svg', (svgs) => svgs.flatMap((svg) => {
    const frame = svg.getBoundingClientRect();
    return [...svg.querySelectorAll('text')].filter((text) => {
      const box = text.getBoundingClientRect();
      return box.left < frame.left - 0.5 || box.right > frame.right + 0.5;
    }).map((text) => text.textContent);
  }));
  for (const text of clipped) failures.push(`chart text ${JSON.stringify(text)} is cut off by its chart`);
  console.log(JSON.stringify({
    figures: Object.keys(expected).length,
    bars: bars.length,
    screenshot: { width: png.width, height: png.height },
    failures,
  }));
} finally {
  await browser.close();
}
process.exit(failures.length ? 1 : 0);
