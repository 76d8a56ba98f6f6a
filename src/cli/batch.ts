// `vtepctl -batch FILE` (and `-batch -` for standard input), as iproute2's
// `bridge -batch`: one command a line, as it would follow `vtepctl` on the
// command line; blank lines and `#` comments skipped; words split as a shell
// would, with "…" and '…' quoting. All of them go down one connection in a
// batch (`{"cmd":"batch"}`): the daemon does one after another and answers in
// order, and after a refusal does no more, unless `-force`. Answers are
// printed as each command prints them alone; a failure prints its error and
// `Command failed FILE:LINE`. Exit status as iproute2's: 0 when every command
// succeeded, 1 otherwise.
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { unreachable } from '../control/client.ts';
import { MAX_REQUEST_BYTES, type Reply } from '../control/protocol.ts';
import { UsageError } from '../control/usage-error.ts';
import type { Flags, Verb } from '../control/verb.ts';

/** A line made into a request (or the reason it could not be), with how its answer is printed. */
export type BatchLine =
  { line: number; verb: Verb; request: Record<string, unknown>; flags: Flags } | { line: number; error: string };

/** Words of one line, as a shell splits them: spaces apart, quotes kept together, `#` to the end a comment. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new UsageError(`unterminated ${c} quote`);
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '#' && word === undefined) {
      break;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The file's lines made into requests by `toRequest` (vtepctl's own command-line reading); blank ones left out. */
export function readBatch(
  text: string,
  toRequest: (words: string[]) => { verb: Verb; request: Record<string, unknown>; flags: Flags },
): BatchLine[] {
  const out: BatchLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    try {
      // Longer than any request may be: said as such, not as whatever field it overflows.
      if (Buffer.byteLength(raw) >= MAX_REQUEST_BYTES)
        throw new UsageError(`the line is longer than the ${MAX_REQUEST_BYTES / 1024} KB a request may be`);
      const words = splitWords(raw);
      if (words.length === 0) return;
      const r = toRequest(words);
      if (r.verb.client !== undefined)
        throw new UsageError(`${r.verb.words.join(' ')} streams or runs on its own: it cannot be part of a batch`);
      out.push({ line, ...r });
    } catch (e) {
      out.push({ line, error: (e as Error).message });
    }
  });
  return out;
}

/** The text of FILE, or of standard input for "-"; throws with iproute2's wording when it cannot be read. */
export function batchText(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new Error(`cannot open file "${file}" for reading: ${(e as Error).message}`);
  }
}

/**
 * Sends the lines down one connection and prints each answer in order; stops at the first failure
 * unless `force`. Returns the exit status.
 */
export async function runBatch(socket: string, file: string, lines: BatchLine[], force: boolean): Promise<number> {
  // Without force, nothing after the first line that cannot even be sent.
  const firstBad = force ? -1 : lines.findIndex((l) => 'error' in l);
  const used = firstBad < 0 ? lines : lines.slice(0, firstBad + 1);
  const sent = used.filter((l): l is Extract<BatchLine, { verb: Verb }> => 'verb' in l);
  const replies = sent.length === 0 ? [] : await exchange(socket, sent, force);
  let status = 0;
  let k = 0;
  const failed = (line: number, message: string) => {
    process.stderr.write(`vtepctl: ${message}\nCommand failed ${file === '-' ? '-' : file}:${line}\n`);
    status = 1;
  };
  for (const l of used) {
    if ('error' in l) {
      failed(l.line, l.error);
      if (!force) break;
      continue;
    }
    const r = replies[k++];
    if (r === undefined) break; // the connection ended early: said below
    if (!r.ok) {
      if (r['not-done']) break;
      failed(l.line, r.error);
      for (const p of r.problems ?? []) process.stderr.write(`vtepctl:   ${p}\n`);
      if (!force) break;
      continue;
    }
    const text =
      l.verb.print !== undefined ? l.verb.print(r.data, l.flags) : l.flags.json ? JSON.stringify(r.data, null, 2) : '';
    if (text) process.stdout.write(text + '\n');
  }
  if (replies.length < sent.length && status === 0) {
    process.stderr.write(`vtepctl: vtepd closed the connection after ${replies.length} of ${sent.length} answers\n`);
    status = 1;
  }
  return status;
}

/** One connection: the batch's start, then every request; the answers in order (the batch's own first, left out). */
function exchange(
  socket: string,
  lines: readonly Extract<BatchLine, { verb: Verb }>[],
  force: boolean,
): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    const replies: Reply[] = [];
    let rest = '';
    let started = false;
    c.setEncoding('utf8');
    // The requests go once vtepd said it takes a batch: an older one would do them all, refusals or not.
    const sendRequests = () => {
      let block = '';
      for (const l of lines) {
        block += JSON.stringify(l.request) + '\n';
        if (block.length > 1 << 20) {
          c.write(block);
          block = '';
        }
      }
      c.write(block);
    };
    c.on('connect', () => c.write(JSON.stringify({ cmd: 'batch', force }) + '\n'));
    c.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      for (const p of parts) {
        const r = JSON.parse(p) as Reply;
        if (!started) {
          started = true;
          if (!r.ok) {
            c.destroy();
            reject(new Error(`vtepd does not take a batch: ${r.error} (an older vtepd? see vtepctl upgrade)`));
            return;
          }
          sendRequests();
          continue;
        }
        replies.push(r);
      }
      if (replies.length === lines.length) {
        c.destroy();
        resolve(replies);
      }
    });
    c.on('error', (e) => reject(unreachable(socket, e)));
    c.on('close', () => resolve(replies));
  });
}
