/**
 * Progress lines for long work: `step 120/600 (20%) | loss 0.53 lr 9.1e-04 | 2,150 tok/s | ETA 1m23s`.
 * Plain lines (not a redrawn bar) so logs and CI output stay readable.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The default log of long work: progress and notes go to stderr, so stdout stays data. */
export const logToStderr = (line: string): void => {
  process.stderr.write(line + '\n');
};

export class Progress {
  private readonly total: number;
  private readonly start: number;
  private readonly t0 = performance.now();
  private tokens = 0;
  private readonly log: (line: string) => void;
  private readonly unit: string;

  /** `unit` names what is counted (`step 120/600`, `tree 40/200`) */
  constructor(total: number, start: number, log: (line: string) => void, unit = 'step') {
    this.total = total;
    this.start = start;
    this.log = log;
    this.unit = unit;
  }

  /** Count work up to `done` units; print a line when `print`. */
  tick(done: number, tokens: number, detail: string, print: boolean): void {
    this.tokens += tokens;
    if (!print) return;
    const secs = (performance.now() - this.t0) / 1000;
    const rate = (done - this.start) / Math.max(secs, 1e-9);
    const eta = (this.total - done) / Math.max(rate, 1e-9);
    const tps = Math.round(this.tokens / Math.max(secs, 1e-9)).toLocaleString('en-US');
    const pct = Math.floor((100 * done) / Math.max(1, this.total));
    this.log(`${this.unit} ${done}/${this.total} (${pct}%) | ${detail} | ${tps} tok/s | ETA ${formatDuration(eta)}`);
  }
}
