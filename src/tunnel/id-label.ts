// What a tunnel's id is called, by kind: a module of its own, so that vtepctl's printing of `stats`
// learns the word without loading every encapsulation and its config schema (5 ms of each run).
import type { TunnelKind } from './index.ts';

/** What an id is called in `vtepctl stats`, by kind. */
const ID_LABELS: Record<TunnelKind, string> = { vxlan: 'vni', geneve: 'vni', gre: 'key' };

export function idLabel(kind: string): string {
  return ID_LABELS[kind as TunnelKind] ?? 'id';
}
