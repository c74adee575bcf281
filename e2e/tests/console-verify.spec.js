// A verifier works the review queue: a new nurse's identity (photo ID beside the selfie),
// then her licence, which the registry does not know, beside the card she uploaded.
import { test, expect } from '@playwright/test';
import path from 'node:path';
import {
  DEMO_IMAGES, REPO_ROOT, STAFF, NurseSocket, api, newNurse, randomLicenceNumber, submitIdentity,
  submitLicence,
} from '../lib/shiftwire.mjs';
import { drawCard, fact, signIn } from './helpers.js';

/** Whether an <img> has loaded and shows a picture. */
async function expectImageShown(image) {
  await expect(image).toBeVisible();
  await expect.poll(() => image.evaluate((img) => img.complete && img.naturalWidth > 0)).toBe(true);
}

test('a verifier approves an identity, then a licence the registry does not know, looking at its card', async ({ page, browser }) => {
  const name = 'Rosa Delgado';
  const number = randomLicenceNumber();
  const nurse = await newNurse(name);
  const photoId = await drawCard(browser, {
    heading: 'California · Driver License',
    lines: ['DELGADO, ROSA', 'DOB 06/14/1989', 'DL D7301552 · EXP 06/14/2030'],
  });
  await submitIdentity(nurse, { legalName: name, photoId, selfie: DEMO_IMAGES.selfie() });
  const card = await drawCard(browser, {
    heading: 'California Board of Registered Nursing',
    lines: ['Registered Nurse', 'ROSA DELGADO', `Licence ${number}`, 'Expires 06/30/2029'],
  });
  const licence = await submitLicence(nurse, { number, card });
  expect(licence.status).toBe('pending');

  await signIn(page, STAFF.verifier);
  await expect(page).toHaveURL(/\/console$/);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Review queue');
  // Her cases, found by the link to her page (names are not unique).
  const herCases = page.getByRole('row').filter({ has: page.locator(`a[href="/console/nurses/${nurse.id}"]`) });
  // Until her identity is verified only the identity is decidable: the licence waits for it.
  await expect(herCases).toHaveCount(1);
  await expect(herCases).toContainText('Identity to compare with the photo ID');

  await herCases.getByRole('link', { name: 'Identity' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Identity: ${name}`);
  await expect(fact(page, 'Status')).toHaveText('pending');
  await expectImageShown(page.getByRole('img', { name: 'The photo ID the nurse uploaded' }));
  await expectImageShown(page.getByRole('img', { name: 'The selfie the nurse took' }));
  await page.getByRole('button', { name: 'Approve: the photo ID and the selfie show this person' }).click();
  await expect(page.getByRole('status')).toHaveText('Approved. The nurse has been told.');
  await expect(fact(page, 'Status')).toHaveText('verified');

  // The approval re-runs the registry check of her licence, which the registry does not
  // know: it joins the queue with that reason (the check runs in the background).
  await page.getByRole('link', { name: 'Back to the queue' }).click();
  const licenceCase = herCases.filter({ hasText: 'Licence or certification' });
  await expect(async () => {
    await page.reload();
    await expect(licenceCase).toHaveCount(1, { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await expect(licenceCase).toContainText('Not found in the state registry');

  await licenceCase.getByRole('link', { name: 'Licence or certification' }).click();
  await expect(page).toHaveURL(new RegExp(`/console/credentials/${licence.id}$`));
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`RN ${number}`);
  await expect(fact(page, 'Nurse')).toHaveText(name);
  await expect(fact(page, 'Legal name')).toHaveText(`${name} (verified)`);
  await expect(fact(page, 'Why it needs you')).toContainText('Not found in the state registry');
  await expect(fact(page, 'Status')).toHaveText('pending');
  await expectImageShown(page.getByRole('img', { name: 'The licence card the nurse uploaded' }));
  await page.screenshot({ path: path.join(REPO_ROOT, 'docs/console-credential.png') });

  const socket = await NurseSocket.open(nurse.token);
  try {
    await page.getByRole('button', { name: 'Approve', exact: true }).click();
    await expect(page.getByRole('status')).toHaveText('Approved. The nurse has been told.');
    await expect(fact(page, 'Status')).toHaveText('approved');
    const told = await socket.next((f) => f.type === 'verification.updated' && f.credential?.id === licence.id);
    expect(told.credential.status).toBe('approved');
  } finally {
    socket.close();
  }
  const me = await api('GET', '/v1/me', { token: nurse.token });
  expect(me.verification_status).toBe('verified');
  expect(me.credentials.find((c) => c.id === licence.id)?.status).toBe('approved');

  // Decided cases leave the queue.
  await page.goto('/console');
  await expect(herCases).toHaveCount(0);
});
