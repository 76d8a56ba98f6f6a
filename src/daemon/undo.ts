// Changes to the system made one at a time, each with its undo: undone in
// reverse order, every one tried even when an earlier one fails.
import type { Logger } from '../observe/log.ts';

export function undoAll(undo: (() => void)[], log: Logger): void {
  while (undo.length > 0) {
    try {
      undo.pop()!();
    } catch (e) {
      log.warn(`while cleaning up: ${(e as Error).message}`);
    }
  }
}
