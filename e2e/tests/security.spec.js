// Tenancy and forged forms, as a browser meets them.
import { test, expect } from '@playwright/test';
import { randomUUID } from 'node:crypto';
import {
  STAFF, api, facilityOf, localDate, shiftTerms, staffSession, staffToken, tag,
} from '../lib/shiftwire.mjs';
import { fact, signIn } from './helpers.js';

/** An open shift posted through the API by the scheduler `email`: `{ shift, fid }`. */
async function postShift(email, unit, offsetDays = 3) {
  const fid = await facilityOf(await staffSession(email));
  const shift = await api('POST', `/v1/facilities/${fid}/shifts`, {
    token: await staffToken(email),
    json: shiftTerms({ date: localDate(offsetDays), start: '15:00', hours: 8, unit }),
    expect: 201,
  });
  return { shift, fid };
}

test('another facility\'s shift and board answer exactly like pages that do not exist', async ({ page }) => {
  const { shift: theirs, fid: theirFacility } = await postShift(STAFF.bayview, `Bayview ${tag()}`);
  await signIn(page, STAFF.mercy);

  for (const [foreignPath, missingPath] of [
    [`/portal/shifts/${theirs.id}`, `/portal/shifts/${randomUUID()}`],
    [`/portal/f/${theirFacility}`, `/portal/f/${randomUUID()}`],
    [`/portal/f/${theirFacility}/shifts/new`, `/portal/f/${randomUUID()}/shifts/new`],
  ]) {
    const foreign = await page.goto(foreignPath);
    expect(foreign.status(), foreignPath).toBe(404);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Not found');
    await expect(page.locator('main')).toContainText('There is no such page, or it is not one of yours.');
    await expect(page.getByText(theirs.unit)).toHaveCount(0);
    const foreignSeen = { title: await page.title(), text: await page.locator('body').innerText(), html: await foreign.text() };

    const missing = await page.goto(missingPath);
    expect(missing.status(), missingPath).toBe(404);
    const missingSeen = { title: await page.title(), text: await page.locator('body').innerText(), html: await missing.text() };
    expect(foreignSeen, `${foreignPath} and ${missingPath} differ`).toEqual(missingSeen);
  }
});

test('a form posted without its CSRF token is refused and changes nothing', async ({ page }) => {
  const unit = `CSRF ${tag()}`;
  const { shift } = await postShift(STAFF.mercy, unit);
  await signIn(page, STAFF.mercy);
  await page.goto(`/portal/shifts/${shift.id}`);
  await expect(fact(page, 'Status')).toHaveText('Open');
  const cancel = `/portal/shifts/${shift.id}/cancel`;

  // With the session cookie but no token: from outside the page...
  const bare = await page.request.post(cancel, { form: { reason: 'Forged' }, maxRedirects: 0 });
  expect(bare.status()).toBe(403);
  expect(await bare.text()).toContain('The form was refused');
  // ...with a wrong token...
  const wrong = await page.request.post(cancel, { form: { reason: 'Forged', _csrf: 'not-the-token' }, maxRedirects: 0 });
  expect(wrong.status()).toBe(403);
  // ...and from a script on the page itself (same origin, no X-CSRF-Token header).
  const fromPage = await page.evaluate(async (url) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'reason=Forged',
      redirect: 'manual',
    });
    return { status: response.status, text: await response.text() };
  }, cancel);
  expect(fromPage.status).toBe(403);
  expect(fromPage.text).toContain('The form was refused');

  // The real form with its token field taken out: a person sees the refusal in words.
  await page.locator(`form[action="${cancel}"] input[name="_csrf"]`).evaluate((input) => input.remove());
  await page.getByLabel('Reason (the booked nurse reads it)').fill('Forged');
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(cancel)),
    page.getByRole('button', { name: 'Cancel shift' }).click(),
  ]);
  expect(refused.status()).toBe(403);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('The form was refused');

  // Nothing changed.
  await page.goto(`/portal/shifts/${shift.id}`);
  await expect(fact(page, 'Status')).toHaveText('Open');
  const shifts = await api('GET', `/v1/facilities/${shift.facility_id}/shifts?status=open`, { token: await staffToken(STAFF.mercy) });
  expect(shifts.items.some((s) => s.id === shift.id)).toBe(true);
});
