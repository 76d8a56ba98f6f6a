// The config schema and the verbs' fields as JSON Schema, walked into rows a
// reference can print: shared by the Markdown references (gen-docs.ts) and the
// man pages (gen-man.ts).
import { z } from 'zod';

export type Json = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  properties?: Record<string, Json>;
  required?: string[];
  additionalProperties?: Json | boolean;
  items?: Json | boolean;
  prefixItems?: Json[];
  anyOf?: Json[];
  propertyNames?: Json;
};

export function jsonSchema(schema: z.ZodType): Json {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
}

/** A value's type in a few words: "integer 1-65535", "owner | group", "list of address", "map of NAME to {...}". */
export function typeOf(j: Json): string {
  if (j.const !== undefined) return JSON.stringify(j.const);
  if (j.enum !== undefined) return j.enum.map((v) => String(v)).join(' | ');
  if (j.anyOf !== undefined) return j.anyOf.map(typeOf).join(' or ');
  const t = Array.isArray(j.type) ? j.type.join(' or ') : j.type;
  if (t === 'integer' || t === 'number') {
    if (j.minimum !== undefined && j.maximum !== undefined) return `${t} ${j.minimum}-${j.maximum}`;
    return t;
  }
  if (t === 'array') {
    if (j.prefixItems !== undefined) return `[${j.prefixItems.map(typeOf).join(', ')}]`;
    return `list of ${typeof j.items === 'object' ? typeOf(j.items) : 'anything'}`;
  }
  if (t === 'object') {
    if (j.properties !== undefined) return '{ ... }';
    if (typeof j.additionalProperties === 'object') return `map of names to ${typeOf(j.additionalProperties)}`;
    return 'object';
  }
  return t ?? 'anything';
}

export interface Row {
  key: string;
  type: string;
  fallback: string;
  required: boolean;
  meaning: string;
}

/** Every key under `j` as rows, depth first: NAME for a map's keys, [] for a list's items. */
export function rows(j: Json, at: string, required: boolean, out: Row[]): void {
  if (at !== '') {
    out.push({
      key: at,
      type: typeOf(j),
      fallback: j.default === undefined ? '' : JSON.stringify(j.default),
      required,
      meaning: j.description ?? '',
    });
  }
  const children = (o: Json, prefix: string) => {
    for (const [k, v] of Object.entries(o.properties ?? {}))
      rows(v, prefix === '' ? k : `${prefix}.${k}`, (o.required ?? []).includes(k), out);
  };
  if (j.properties !== undefined) children(j, at);
  else if (typeof j.additionalProperties === 'object' && j.additionalProperties.properties !== undefined)
    children(j.additionalProperties, `${at}.NAME`);
  else if (typeof j.items === 'object' && j.items.properties !== undefined) children(j.items, `${at}[]`);
  for (const variant of j.anyOf ?? []) if (variant.properties !== undefined) children(variant, at);
}
