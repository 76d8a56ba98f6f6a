/** The data path's clock: monotonic seconds (learning, ageing, path MTU expiry). */
export function monotonicSeconds(): number {
  return performance.now() / 1000;
}
