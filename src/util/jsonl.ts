/**
 * Durable and atomic file writes, and JSONL files: atomic writes (temporary sibling, fsync, rename: readers never see half a file) and reads whose
 * errors name `file:line` (one-line SelfcestErrors).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crashPoint } from './crash.ts';
import { SelfcestError } from './errors.ts';

const reason = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * Write data to file and fsync it before returning. Writes through a descriptor report no path in their errors
 * (a full disk reads "ENOSPC: ..., write"): the file is added, so the user learns where the disk ran out.
 */
export function writeFileDurable(file: string, data: Uint8Array | string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (e) {
    const x = e as NodeJS.ErrnoException;
    if (x.code && x.path === undefined) x.path = file;
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

/** Write text (or bytes) to file atomically, creating its folder. */
export function writeFileAtomic(file: string, text: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileDurable(tmp, text);
    crashPoint(`rewrite:${path.basename(file)}`);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new SelfcestError(`${file}: cannot write (${reason(e)})`);
  }
}

/** One JSON value per line. */
export function writeJsonl(file: string, records: readonly unknown[]): void {
  writeFileAtomic(file, records.map((r) => JSON.stringify(r) + '\n').join(''));
}

/** Parse every non-blank line; `parse` validates one record and names `where` (`file:line`) in its errors. */
export function readJsonl<T>(file: string, parse: (obj: unknown, where: string) => T): T[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new SelfcestError(`${file}: cannot read (${reason(e)})`);
  }
  const out: T[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const where = `${file}:${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new SelfcestError(`${where}: invalid JSON: ${(e as Error).message}`);
    }
    out.push(parse(obj, where));
  }
  return out;
}
