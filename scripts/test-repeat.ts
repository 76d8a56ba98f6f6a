// Runs the lab suites (test/netns, test/conformance) N times in both data-path
// modes — with offloads, and with vtepd --no-offload as CI's second pass — and
// prints how often each test failed. A test that fails once in these runs is
// flaky, and a flaky test makes good work fail in CI: find its cause.
//
//   npm run test:repeat -- 5                   five runs of each mode
//   npm run test:repeat -- 3 test/netns/ipv6.test.ts   only those files
//   npm run test:repeat -- 2 --mode no-offload  one mode only
//
// As root (the lab tests build namespaces). Exits 1 when any test failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run test:repeat -- N [--mode both|offload|no-offload] [--out FILE] [TEST FILE...]';

interface VitestJson {
  numFailedTests: number;
  numPassedTests: number;
  testResults: { name: string; assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

interface Tally {
  passed: number;
  failed: number;
  /** The first line of each failure message, with the run it happened in. */
  why: string[];
}

function main(): number {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        mode: { type: 'string', default: 'both' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    console.error(`test:repeat: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const runs = Number(positionals[0]);
  if (!Number.isInteger(runs) || runs < 1) {
    console.error(
      `test:repeat: N must be a whole number of runs, 1 or more (got ${positionals[0] ?? 'nothing'})\n${USAGE}`,
    );
    return 2;
  }
  const modes = values.mode === 'both' ? ['offload', 'no-offload'] : [values.mode!];
  if (!modes.every((m) => m === 'offload' || m === 'no-offload')) {
    console.error(`test:repeat: --mode: expected both, offload or no-offload (got ${values.mode})`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error('test:repeat: run it as root: the lab tests create network namespaces');
    return 2;
  }
  const files = positionals.length > 1 ? positionals.slice(1) : ['test/netns', 'test/conformance'];
  const dir = mkdtempSync(join(tmpdir(), 'vtepd-repeat-'));
  const tallies = new Map<string, Tally>();
  const started = Date.now();
  const runLog: string[] = [];
  // The summary so far, written to --out after every pass (a long repeat stopped early keeps what it
  // found) and printed at the end; returns how many tests failed at least once.
  const summary = (print: boolean): number => {
    const failing = [...tallies].filter(([, t]) => t.failed > 0).sort((a, b) => b[1].failed - a[1].failed);
    const total = [...tallies.values()].reduce((n, t) => n + t.passed + t.failed, 0);
    const lines = [
      `test:repeat: ${runs} run${runs === 1 ? '' : 's'} × ${modes.join(' + ')}, ${tallies.size} tests, ${total} results, ${((Date.now() - started) / 60000).toFixed(1)} min`,
      ...runLog,
      failing.length === 0 ? 'failures per test: none' : 'failures per test:',
      ...failing.flatMap(([name, t]) => [
        `  ${t.failed} of ${t.passed + t.failed}  ${name}`,
        ...t.why.map((w) => `      ${w}`),
      ]),
    ];
    if (print) console.log(`\n${lines.join('\n')}`);
    if (values.out !== undefined) {
      mkdirSync(join(values.out, '..'), { recursive: true });
      writeFileSync(values.out, `${lines.join('\n')}\n`);
    }
    return failing.length;
  };
  try {
    for (let run = 1; run <= runs; run++) {
      for (const mode of modes) {
        const report = join(dir, `${run}-${mode}.json`);
        const t0 = Date.now();
        const env = {
          ...process.env,
          VTEPD_TEST_ARGS: mode === 'no-offload' ? '--no-offload' : (process.env.VTEPD_TEST_ARGS ?? ''),
        };
        const r = spawnSync(
          'npx',
          ['vitest', 'run', ...files, '--reporter=dot', '--reporter=json', `--outputFile.json=${report}`],
          {
            env,
            stdio: ['ignore', 'inherit', 'inherit'],
          },
        );
        let json: VitestJson;
        try {
          json = JSON.parse(readFileSync(report, 'utf8')) as VitestJson;
        } catch {
          console.error(
            `test:repeat: run ${run} (${mode}) wrote no report (vitest exit ${r.status}); counted as one failure of the whole run`,
          );
          tally(tallies, `(run ${mode})`, false, `no report, exit ${r.status}`, run, mode);
          continue;
        }
        for (const file of json.testResults) {
          const rel = file.name.replace(`${process.cwd()}/`, '');
          for (const t of file.assertionResults) {
            if (t.status !== 'passed' && t.status !== 'failed') continue;
            tally(tallies, `${rel} > ${t.fullName}`, t.status === 'passed', t.failureMessages[0] ?? '', run, mode);
          }
        }
        const line = `run ${run}/${runs} ${mode}: ${json.numPassedTests} passed, ${json.numFailedTests} failed, ${((Date.now() - t0) / 60000).toFixed(1)} min`;
        runLog.push(line);
        console.log(`test:repeat: ${line}`);
        summary(false);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const failing = summary(true);
  return failing === 0 ? 0 : 1;
}

function tally(
  tallies: Map<string, Tally>,
  name: string,
  passed: boolean,
  why: string,
  run: number,
  mode: string,
): void {
  const t = tallies.get(name) ?? { passed: 0, failed: 0, why: [] };
  if (passed) t.passed++;
  else {
    t.failed++;
    t.why.push(`run ${run} ${mode}: ${why.split('\n')[0].slice(0, 200)}`);
  }
  tallies.set(name, t);
}

process.exitCode = main();
