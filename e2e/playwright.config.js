// Browser tests of the portal and console against a running `shiftwire serve` with demo
// data (scripts/e2e.sh starts one, with the SMS capture server, and runs these). Debian's
// Chromium, not a Playwright download: the machines reach package registries only.
import { defineConfig } from '@playwright/test';
import { BASE_URL } from './lib/shiftwire.mjs';

export default defineConfig({
  testDir: './tests',
  // One database shared by every test: one worker, files in name order.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 5_000 },
  reporter: [['list'], ['junit', { outputFile: 'test-results/junit.xml' }]],
  outputDir: 'test-results/artifacts',
  use: {
    baseURL: BASE_URL,
    browserName: 'chromium',
    locale: 'en-US',
    timezoneId: 'America/Los_Angeles',
    viewport: { width: 1280, height: 900 },
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
});
