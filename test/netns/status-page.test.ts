// The status page vtepd serves beside /metrics, in a real browser (Debian's
// chromium, driven headless by playwright-core) running inside h1's network
// namespace, where vtepd listens on 127.0.0.1: three vtepd VTEPs with
// traffic; the page must load with no console error and no request to
// anywhere but vtepd, draw both remote VTEPs, show rates that move, find a
// MAC, and turn a stopped VTEP's edge silent. /api/status must hold the same
// counters as `vtepctl stats --json`, and the listener take nothing but reads.
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { StatsReport } from '../../src/control/protocol.ts';
import { ROOT, sleep, type Lab } from '../../scripts/lab/lab.ts';
import { expectOk, overlay, vtepctl, withLab } from './helpers.ts';

const METRICS = '127.0.0.1:9465';
const ORIGIN = `http://${METRICS}`;
/** Where the README's screenshot comes from: `VTEPD_UPDATE_SCREENSHOT=1` copies the test's one there. */
const README_SCREENSHOT = join(ROOT, 'docs/images/status-page.png');

function config(lab: Lab, i: number): string {
  const others = [1, 2, 3].filter((j) => j !== i).map((j) => lab.underlay(j));
  return `
local: ${lab.underlay(i)}
socket: ${lab.socket(i)}
networks:
  blue:
    tap: tap-blue
    address: ${overlay(i)}/24
    vxlan: { vni: 42 }
    remotes: [${others.join(', ')}]
`;
}

/** Chromium inside host i's namespace: a wrapper playwright starts as if it were the browser. */
async function browserIn(lab: Lab, i: number): Promise<Browser> {
  const wrapper = join(lab.dir, `chromium-h${i}`);
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${lab.ns(i)} /usr/bin/chromium "$@"\n`);
  chmodSync(wrapper, 0o755);
  return chromium.launch({ executablePath: wrapper, args: ['--no-sandbox', '--disable-gpu'], timeout: 60_000 });
}

/** Polls `fn` in the page until it returns true, or fails naming `what`. */
async function until(page: Page, what: string, fn: string, timeoutMs = 20_000): Promise<void> {
  try {
    await page.waitForFunction(fn, undefined, { timeout: timeoutMs, polling: 250 });
  } catch {
    throw new Error(`the page never showed ${what} within ${timeoutMs} ms`);
  }
}

/** An HTTP request from inside host 1 (raw, to send what a browser would not). */
async function http(lab: Lab, request: string): Promise<string> {
  const script =
    `const s = require('net').connect(${METRICS.split(':')[1]}, '127.0.0.1', () => s.write(${JSON.stringify(request)}));` +
    `let out = ''; s.on('data', (d) => (out += d)); s.on('end', () => process.stdout.write(out)); s.on('close', () => process.stdout.write(out ? '' : 'closed'));`;
  const r = await lab.exec(1, process.execPath, ['-e', script]);
  return r.stdout;
}

describe('the status page', () => {
  it(
    'draws the fabric, rates that move, a searchable MAC table and a stopped VTEP going silent, in a real browser',
    () =>
      withLab(3, async (lab) => {
        const daemons = [];
        for (const i of [1, 2, 3])
          daemons.push(
            await lab.startDaemonArgs(i, [
              '--config',
              lab.writeConfig(i, config(lab, i)),
              ...(i === 1 ? ['--metrics', METRICS] : []),
            ]),
          );
        expectOk(await lab.exec(1, 'ping', ['-c', '2', '-W', '2', overlay(2)]), 'ping h2');
        expectOk(await lab.exec(1, 'ping', ['-c', '2', '-W', '2', overlay(3)]), 'ping h3');
        // h3 keeps talking until it is stopped: its replies are what the page sees of it.
        const pings = lab.exec(1, 'ping', ['-i', '0.2', '-w', '60', '-W', '1', overlay(3)], 90_000);
        const browser = await browserIn(lab, 1);
        try {
          const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
          const errors: string[] = [];
          const elsewhere: string[] = [];
          page.on('console', (m) => {
            if (m.type() === 'error') errors.push(m.text());
          });
          page.on('pageerror', (e) => errors.push(e.message));
          page.on('request', (r) => {
            if (!r.url().startsWith(`${ORIGIN}/`)) elsewhere.push(r.url());
          });
          await page.goto(`${ORIGIN}/`);
          await until(
            page,
            'both remote VTEPs in the fabric',
            `document.querySelectorAll('#fabric path.edge[data-remote="${lab.underlay(2)}"], #fabric path.edge[data-remote="${lab.underlay(3)}"]').length === 2`,
          );
          // Rates move while iperf3 runs (h1 -> h2).
          const server = spawn('ip', ['netns', 'exec', lab.ns(2), 'iperf3', '-s', '-1'], { stdio: 'ignore' });
          await sleep(500);
          const iperf = lab.exec(1, 'iperf3', ['-c', overlay(2), '-t', '8', '-b', '200M'], 30_000);
          await until(
            page,
            'tunnel tx above 10 Mbit/s on network blue',
            `Number(document.querySelector('#networks td[data-tx-bps]')?.dataset.txBps) > 1e7`,
          );
          await until(
            page,
            'the edge to h2 carrying traffic',
            `Number(document.querySelector('#fabric path.edge[data-remote="${lab.underlay(2)}"]')?.dataset.bps) > 1e7`,
          );
          const width = await page.getAttribute(`#fabric path.edge[data-remote="${lab.underlay(2)}"]`, 'stroke-width');
          const idle = await page.getAttribute(`#fabric path.edge[data-remote="${lab.underlay(3)}"]`, 'stroke-width');
          expect(Number(width)).toBeGreaterThan(Number(idle)); // thicker with traffic
          await sleep(5000); // a few seconds of the transfer in the graphs, for the screenshot
          await page.screenshot({ path: join(lab.dir, 'status-page.png'), fullPage: true });
          expectOk(await iperf, 'iperf3');
          server.kill();
          // Searching a MAC finds it: h2's TAP.
          const mac2 = (await lab.exec(2, 'cat', ['/sys/class/net/tap-blue/address'])).stdout.trim();
          await page.fill('#mac-search', mac2);
          await until(
            page,
            `the MAC ${mac2} found`,
            `[...document.querySelectorAll('#macs tbody tr')].length === 1 && document.querySelector('#macs tbody tr td').textContent === '${mac2}'`,
          );
          expect(await page.textContent('#mac-count')).toMatch(/^1 of \d+ MACs match/);
          // Stopping h3: its edge turns silent once nothing came from it for 10 s.
          expect(await page.getAttribute(`#fabric path.edge[data-remote="${lab.underlay(3)}"]`, 'data-state')).toBe(
            'flood',
          );
          expect(await daemons[2].stop()).toBe(0);
          await until(
            page,
            "h3's edge silent",
            `document.querySelector('#fabric path.edge[data-remote="${lab.underlay(3)}"]')?.dataset.state === 'silent'`,
            30_000,
          );
          await pings;
          expect(errors, 'console errors').toEqual([]);
          expect(elsewhere, 'requests to anywhere but vtepd').toEqual([]);
          if (process.env.VTEPD_UPDATE_SCREENSHOT === '1')
            copyFileSync(join(lab.dir, 'status-page.png'), README_SCREENSHOT);
        } finally {
          await browser.close();
        }
      }),
    120_000,
  );

  it('serves /api/status with the counters of vtepctl stats, and takes nothing but reads', () =>
    withLab(2, async (lab) => {
      for (const i of [1, 2])
        await lab.startDaemonArgs(i, [
          '--config',
          lab.writeConfig(i, config(lab, i).replace(/remotes: \[.*\]/, `remotes: [${lab.underlay(3 - i)}]`)),
          ...(i === 1 ? ['--metrics', METRICS] : []),
        ]);
      expectOk(await lab.exec(1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', overlay(2)]), 'ping');
      const api = async () => {
        const r = await lab.exec(1, process.execPath, [
          '-e',
          `fetch('${ORIGIN}/api/status').then(async (r) => process.stdout.write(await r.text()))`,
        ]);
        return JSON.parse(r.stdout) as { stats: StatsReport; remotes: unknown[]; fdb: unknown[]; fdbTotal: number };
      };
      const ctl = async () => {
        const r = await vtepctl('--socket', lab.socket(1), 'stats', '--json');
        expectOk(r, 'stats');
        return JSON.parse(r.stdout) as StatsReport;
      };
      // The same instant: the counters stand still between two vtepctl reads around the page's.
      let same = false;
      for (let k = 0; k < 10 && !same; k++) {
        const before = await ctl();
        const page = await api();
        const after = await ctl();
        const counters = (s: StatsReport) =>
          JSON.stringify([s.networks.blue.counters, s.networks.blue.remotes, s.drops]);
        same = counters(before) === counters(after);
        if (same) {
          expect(counters(page.stats)).toBe(counters(before));
          expect(page.stats.networks.blue.macs).toEqual(before.networks.blue.macs);
        }
        await sleep(300);
      }
      expect(same, 'a quiet moment to compare in').toBe(true);
      const page = await api();
      const remotes = await vtepctl('--socket', lab.socket(1), 'remote', 'show', '--json');
      // The same rows; their counters may have moved between the two reads (ARP keeps talking).
      const rows = (xs: unknown[]) =>
        (xs as Record<string, unknown>[]).map((r) => ({
          ...r,
          'rx-packets': 0,
          'rx-bytes': 0,
          'tx-packets': 0,
          'tx-bytes': 0,
        }));
      expect(rows(page.remotes)).toEqual(rows(JSON.parse(remotes.stdout) as unknown[]));
      expect(page.fdbTotal).toBe(page.fdb.length);
      // Read-only, bodies refused, unknown paths 404.
      expect(await http(lab, 'POST /api/status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}')).toMatch(
        /^HTTP\/1\.1 405 .*\r\n(.*\r\n)*allow: GET, HEAD\r\n/i,
      );
      expect(await http(lab, 'GET /api/status HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello')).toMatch(
        /^HTTP\/1\.1 413 /,
      );
      expect(await http(lab, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(
        /^HTTP\/1\.1 200 OK\r\n(.*\r\n)*content-type: text\/html/i,
      );
      expect(await http(lab, 'GET /../package.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(
        /^HTTP\/1\.1 404 /,
      );
      const js = await http(lab, 'GET /status.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(js).toMatch(/^HTTP\/1\.1 200 OK\r\n(.*\r\n)*content-type: text\/javascript/i);
      expect(js).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/); // nothing fetched from elsewhere
    }));
});
