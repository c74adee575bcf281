// Steps the browser tests share: signing in through the form, pictures to upload, the live
// board's socket, and the checks every page must pass (375 px wide, axe).
import { expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { PASSWORD } from '../lib/shiftwire.mjs';

/** Signs in through `/sign-in` as a person would and waits for the page it leads to. */
export async function signIn(page, email, { next } = {}) {
  await page.goto(next ? `/sign-in?next=${encodeURIComponent(next)}` : '/sign-in');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  const submitted = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/sign-in');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const response = await submitted;
  if (response.status() !== 303) {
    await page.waitForLoadState();
    const heading = (await page.locator('h1').first().textContent())?.trim();
    throw new Error(`signing in as ${email} through the form: POST /sign-in answered ${response.status()}, page "${heading}"`);
  }
  await expect(page).not.toHaveURL(/\/sign-in/);
}

/** A new browser context signed in as `email` (its own cookie jar): `{ context, page }`. */
export async function signedInContext(browser, email, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  await signIn(page, email);
  return { context, page };
}

/**
 * A PNG of a card (licence card, photo ID) drawn by the browser, so what the verifier sees
 * names the nurse the test made. Marked as test data.
 */
export async function drawCard(browser, { heading, lines }) {
  const page = await browser.newPage({ viewport: { width: 480, height: 300 } });
  const escape = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  await page.setContent(`<!doctype html><body style="margin:0">
    <div id="card" style="width:440px;margin:20px;box-sizing:border-box;padding:18px 22px;
      border-radius:14px;background:linear-gradient(135deg,#dbeafe,#f0f9ff);border:2px solid #1e3a8a;
      font:16px/1.45 sans-serif;color:#0f172a">
      <div style="font-weight:700;font-size:19px;color:#1e3a8a">${escape(heading)}</div>
      ${lines.map((l) => `<div>${escape(l)}</div>`).join('')}
      <div style="margin-top:10px;font-size:12px;color:#b91c1c">TEST DATA · NOT A REAL DOCUMENT</div>
    </div></body>`);
  const bytes = await page.locator('#card').screenshot({ type: 'png' });
  await page.close();
  return bytes;
}

/**
 * Resolves once the page's WebSocket (the live board's, opened by htmx with the session
 * cookie) has received `hello`: from then on every notice reaches it (CONTRACT.md). Call
 * before navigating.
 */
export function liveBoardReady(page) {
  return new Promise((resolve) => {
    page.on('websocket', (ws) => {
      if (!ws.url().endsWith('/v1/ws')) return;
      ws.on('framereceived', ({ payload }) => {
        try {
          if (JSON.parse(String(payload)).type === 'hello') resolve();
        } catch {
          // not JSON: not ours to judge here
        }
      });
    });
  });
}

/** The card of one shift on the board. */
export function shiftCard(page, shiftId) {
  const card = page.locator(`li[data-shift="${shiftId}"]`);
  return { card, status: card.locator('[data-status]'), detail: card.locator('[data-detail]') };
}

/** At 375 px wide the page scrolls only vertically. */
export async function expectNoHorizontalOverflow(page) {
  const widths = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
    wide: [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      .filter((el) => !el.closest('.table-wrap')) // tables scroll inside their own box
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className ? `.${String(el.className).replace(/\s+/g, '.')}` : ''} (right edge ${Math.round(el.getBoundingClientRect().right)} px)`),
  }));
  // Soft: the page's axe findings are still collected when it is too wide.
  expect.soft(widths.scroll, `${page.url()} is ${widths.scroll} px wide at 375 px; too wide: ${widths.wide.join('; ')}`)
    .toBeLessThanOrEqual(375);
}

/** axe-core finds nothing serious or critical (WCAG 2.x A and AA rules, and best practice). */
export async function expectAccessible(page) {
  const results = await new AxeBuilder({ page }).analyze();
  const grave = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = grave
    .map((v) => `${v.impact} ${v.id}: ${v.help}\n${v.nodes.slice(0, 5).map((n) => `    ${n.target.join(' ')}: ${n.failureSummary?.split('\n').join(' ')}`).join('\n')}`)
    .join('\n');
  if (results.violations.length) {
    // Every finding, minor ones included, goes into the test's output for the report.
    console.log(`axe ${new URL(page.url()).pathname}: ${results.violations.map((v) => `${v.impact} ${v.id} (${v.nodes.length})`).join(', ')}`);
  }
  expect.soft(grave.map((v) => `${v.impact} ${v.id}`), `axe on ${page.url()}:\n${report}`).toEqual([]);
}

/** The value of one fact (`<dt>label</dt><dd>value</dd>`) on a page. */
export function fact(page, label) {
  return page.locator('dl.facts > dt', { hasText: new RegExp(`^${label}$`) }).first()
    .locator('xpath=following-sibling::dd[1]');
}
