/**
 * Integers as the tasks write them: sign first, then the digits, most-significant first or (`reversed`, the
 * knob of arithmetic and Countdown items) least-significant first. Pure TS.
 */

export const INT_PATTERN = /^-?(0|[1-9]\d*)$/;

/** Sign first, then the digits (least-significant first when reversed). */
export function writeInt(v: bigint, reversed: boolean): string {
  const neg = v < 0n;
  const s = (neg ? -v : v).toString();
  return (neg ? '-' : '') + (reversed ? [...s].reverse().join('') : s);
}

/** Inverse of writeInt; also accepts redundant zeros (leading, or trailing when reversed). null if not an integer. */
export function readInt(text: string, reversed: boolean): bigint | null {
  const m = /^(-?)(\d+)$/.exec(text);
  if (!m) return null;
  const v = BigInt(reversed ? [...m[2]].reverse().join('') : m[2]);
  return m[1] ? -v : v;
}

export function digitCount(v: bigint): number {
  return (v < 0n ? -v : v).toString().length;
}
