// A scheduler who uses no mouse: signing in and posting a shift with Tab, Shift+Tab,
// Enter, Space and typing only (no clicks, no filling by script).
import { test, expect } from '@playwright/test';
import { PASSWORD, STAFF, localDate, tag } from '../lib/shiftwire.mjs';

/** What a screen reader would call the focused element: its label, or its text. */
function focusedName(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return '';
    const label = el.labels?.[0]?.textContent ?? el.getAttribute('aria-label') ?? el.textContent ?? '';
    return label.replace(/\s+/g, ' ').trim();
  });
}

/** Presses Tab (or Shift+Tab) until the element named `name` has the focus. */
async function tabTo(page, name, { backwards = false, limit = 80 } = {}) {
  const seen = [];
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press(backwards ? 'Shift+Tab' : 'Tab');
    const now = await focusedName(page);
    if (now === name) return;
    if (seen.at(-1) !== now) seen.push(now);
  }
  throw new Error(`${name} never had the focus; Tab went through: ${seen.join(' → ')}`);
}

/** `YYYY-MM-DD` typed into a date field as en-US shows it (month, day, year). */
function typedDate(iso) {
  const [y, m, d] = iso.split('-');
  return `${m}${d}${y}`;
}

test('a scheduler signs in and posts a shift with the keyboard only', async ({ page }) => {
  const unit = `Keyboard ward ${tag()}`;
  const date = localDate(5);

  await page.goto('/sign-in');
  await tabTo(page, 'Email');
  await page.keyboard.type(STAFF.mercy);
  await page.keyboard.press('Tab');
  expect(await focusedName(page)).toBe('Password');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/portal\/f\/[0-9a-f-]{36}$/);

  await tabTo(page, 'Post shifts');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Post shifts');

  await tabTo(page, 'Date 1');
  await page.keyboard.type(typedDate(date));
  await expect(page.getByLabel('Date 1')).toHaveValue(date);
  await tabTo(page, 'Starts at');
  await page.keyboard.type('0630AM');
  await expect(page.getByLabel('Starts at')).toHaveValue('06:30');
  await tabTo(page, 'Hourly rate (US dollars)');
  await page.keyboard.type('68');
  await page.keyboard.press('Tab');
  expect(await focusedName(page)).toBe('Unit');
  await page.keyboard.type(unit);
  await tabTo(page, 'BLS');
  await page.keyboard.press('Space');
  await expect(page.getByRole('checkbox', { name: 'BLS' })).toBeChecked();
  // The handoff packet is left empty: the form says what is missing.
  await tabTo(page, 'Post shifts');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('alert').filter({ hasText: 'Nothing was posted' })).toBeVisible();
  await expect(page.locator('#report-error')).toBeVisible();
  await expect(page.locator('#arrival-error')).toBeVisible();
  await expect(page.getByLabel('Report to')).toHaveAttribute('aria-invalid', 'true');
  // What was typed is still there.
  await expect(page.getByLabel('Date 1')).toHaveValue(date);
  await expect(page.getByLabel('Unit', { exact: true })).toHaveValue(unit);
  await expect(page.getByRole('checkbox', { name: 'BLS' })).toBeChecked();

  await tabTo(page, 'Arrival instructions');
  await page.keyboard.type('Main entrance, then the lift to level 3.');
  await page.keyboard.press('Shift+Tab');
  expect(await focusedName(page)).toBe('Report to');
  await page.keyboard.type('Charge nurse, 3 North');
  await tabTo(page, 'Post shifts');
  await page.keyboard.press('Enter');

  await expect(page.getByRole('status').filter({ hasText: 'Posted' })).toHaveText('Posted 1 shift.');
  const card = page.locator('li[data-shift]', { hasText: unit });
  await expect(card).toHaveCount(1);
  await expect(card).toContainText('06:30–19:00 RN');
  await expect(card).toContainText('$68.00/h');
  await expect(card.locator('[data-status]')).toHaveText('Open');
});
