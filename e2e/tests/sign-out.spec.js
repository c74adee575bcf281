// Signing out, then pressing Back: the browser shows no shift data, from its cache or
// anywhere else. Chromium runs with its back/forward cache on, as in a person's Chrome
// (Playwright turns it off by default), so a page kept in it would be shown again.
import { test, expect } from '@playwright/test';
import {
  STAFF, api, facilityOf, localDate, shiftTerms, staffSession, staffToken, tag,
} from '../lib/shiftwire.mjs';
import { signIn } from './helpers.js';

test.use({
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
  },
});

test('after signing out, the back button shows no shift data', async ({ page }) => {
  const unit = `Sign-out ${tag()}`;
  const fid = await facilityOf(await staffSession(STAFF.mercy));
  const shift = await api('POST', `/v1/facilities/${fid}/shifts`, {
    token: await staffToken(STAFF.mercy),
    json: shiftTerms({ date: localDate(1), start: '15:00', hours: 8, unit }),
    expect: 201,
  });
  await signIn(page, STAFF.mercy);
  const boardUrl = page.url();
  await expect(page.locator(`li[data-shift="${shift.id}"]`)).toContainText(unit);
  await page.goto(`/portal/shifts/${shift.id}`);
  await expect(page.getByRole('heading', { level: 1 })).toContainText(unit);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sign in');

  for (let back = 1; back <= 2; back++) {
    await page.goBack();
    await expect(page).toHaveURL(/\/sign-in/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sign in');
    await expect(page.getByText(unit)).toHaveCount(0);
    await expect(page.locator('[data-shift]')).toHaveCount(0);
  }
  // Nothing of the pages stays in the browser's storage either (htmx history cache).
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  expect(stored).not.toContain(unit);

  // The old session is over: the board asks for a sign-in.
  await page.goto(boardUrl);
  await expect(page).toHaveURL(/\/sign-in\?next=/);
  await expect(page.locator('[data-shift]')).toHaveCount(0);
});
