/**
 * Crash points for the kill -9 tests: `SELFCEST_CRASH_AT=<name>:<n>` makes the process SIGKILL itself the n-th
 * time it reaches the point `name` (n defaults to 1). Unset (always, outside tests), a crash point is one
 * environment lookup. The points sit where a crash is hardest to survive: inside a checkpoint save, inside an
 * atomic rewrite (the resume truncation of metrics.jsonl), halfway through an appended metrics line.
 */
const reached = new Map<string, number>();

/** SIGKILL this process here if SELFCEST_CRASH_AT names this point and this visit; `partial` runs first (e.g. half a write). */
export function crashPoint(name: string, partial?: () => void): void {
  const at = process.env.SELFCEST_CRASH_AT;
  if (!at) return;
  const m = /^(.+?)(?::(\d+))?$/.exec(at);
  if (!m || m[1] !== name) return;
  const n = (reached.get(name) ?? 0) + 1;
  reached.set(name, n);
  if (n !== Number(m[2] ?? 1)) return;
  partial?.();
  process.kill(process.pid, 'SIGKILL');
}
