// The log of control changes: a controller programming many entries writes
// one info line a second, not one a change.
import { describe, expect, it } from 'vitest';
import { ChangeLog } from '../../src/control/change-log.ts';
import { Logger } from '../../src/observe/log.ts';

describe('the change log', () => {
  it('logs the first change of a quiet second at info, sums up the rest in one line, each at debug', () => {
    const lines: string[] = [];
    let t = 0;
    const log = new ChangeLog(new Logger({ level: 'info', write: (l) => lines.push(l) }), () => t);
    log.note('fdb-add', 'control: fdb add 02:00:00:00:00:01 dst 10.0.0.2 network blue');
    for (let i = 2; i <= 1000; i++) log.note('fdb-add', `control: fdb add ${i}`);
    log.note('neigh-add', 'control: neigh add 192.168.100.7 lladdr 02:00:00:00:00:07 network blue');
    t = 1000;
    log.flush();
    expect(lines).toEqual([
      expect.stringMatching(/control: fdb add 02:00:00:00:00:01 dst 10\.0\.0\.2 network blue$/),
      expect.stringMatching(
        /control: 1000 more changes within a second \(fdb add 999, neigh add 1\); each is logged at debug$/,
      ),
    ]);
    t = 2500; // a quiet second later, a change is told as it is again
    log.note('remote-del', 'control: remote del 10.0.0.3 network blue');
    expect(lines[2]).toMatch(/control: remote del 10\.0\.0\.3 network blue$/);
  });

  it('writes every change at debug', () => {
    const lines: string[] = [];
    const log = new ChangeLog(new Logger({ level: 'debug', write: (l) => lines.push(l) }), () => 0);
    for (let i = 0; i < 5; i++) log.note('fdb-del', `control: fdb del ${i}`);
    log.flush();
    expect(lines.filter((l) => /control: fdb del \d/.test(l))).toHaveLength(5);
  });
});
