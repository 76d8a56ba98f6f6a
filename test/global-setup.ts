// Before the suite: remove lab namespaces that a killed earlier run left behind.
import { removeStaleLabs } from '../scripts/lab/lab.ts';

export default async function setup(): Promise<void> {
  if (process.getuid?.() === 0) await removeStaleLabs();
}
