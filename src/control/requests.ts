// The requests' schemas: each verb's fields, made of the field kit (zod and
// fields.ts), with `cmd` and the verb's check across fields. The daemon checks
// every request with them; vtepctl loads them only to check a request itself
// (a batch, or a command the daemon refused or that found no daemon), because
// zod and the twenty-odd schemas are a sixth of a `vtepctl fdb show`.
import type { z } from 'zod';
import * as kit from './fields.ts';
import { COMMANDS, verbNamed } from './registry.ts';
import type { Verb } from './verb.ts';

const shapes = new Map<Verb, z.ZodRawShape>();
const schemas = new Map<Verb, z.ZodType>();

/** The verb's fields besides `cmd` (made at the first call). */
export function fieldsOf(verb: Verb): z.ZodRawShape {
  let shape = shapes.get(verb);
  if (shape === undefined) shapes.set(verb, (shape = verb.fields(kit)));
  return shape;
}

/** The whole request's schema: `cmd` one of the verb's names, its fields, and its check across them. */
export function schemaOf(verb: Verb): z.ZodType {
  let schema = schemas.get(verb);
  if (schema === undefined) schemas.set(verb, (schema = requestSchema(verb)));
  return schema;
}

function requestSchema(verb: Verb): z.ZodType {
  const { z } = kit;
  const names = verb.names as [string, ...string[]];
  const cmd = names.length === 1 ? z.literal(verb.cmd) : z.literal(names);
  const schema = z.strictObject({ cmd, ...fieldsOf(verb) });
  const check = verb.check;
  if (check === undefined) return schema;
  return schema.superRefine((req, ctx) => {
    const problem = check(req);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** Validates one request with its verb's schema; the error is one line naming what is wrong. */
export function parseRequest(
  raw: unknown,
): { ok: true; verb: Verb; request: Record<string, unknown> & { cmd: string } } | { ok: false; error: string } {
  const verb = verbNamed((raw as { cmd?: unknown } | null)?.cmd);
  if (verb === undefined || typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, error: `unknown command; the commands are: ${COMMANDS.join(', ')}` };
  }
  const r = schemaOf(verb).safeParse(raw);
  if (r.success) return { ok: true, verb, request: r.data as Record<string, unknown> & { cmd: string } };
  const i = r.error.issues[0];
  const where = i.path.length > 0 ? `${i.path.join('.')}: ` : '';
  return { ok: false, error: `${where}${i.message}` };
}
