// Which code bin/selfcest.mjs runs: the compiled package (dist/) while it is up to date with the sources, else the
// sources through tsx. Plain JS, no dependencies (it runs before anything is loaded).
import { readdirSync, statSync } from 'node:fs';

const mtime = (url) => {
  try {
    return statSync(url).mtimeMs;
  } catch {
    return null;
  }
};

/** The newest modification time under src/ and of the tsconfigs; a directory's own time counts too (a file removed or renamed). */
export function newestSource(root) {
  let newest = Math.max(mtime(new URL('tsconfig.json', root)) ?? 0, mtime(new URL('tsconfig.build.json', root)) ?? 0);
  const walk = (dir) => {
    newest = Math.max(newest, mtime(dir) ?? 0);
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(new URL(`${e.name}/`, dir));
      else newest = Math.max(newest, mtime(new URL(e.name, dir)) ?? 0);
    }
  };
  walk(new URL('src/', root));
  return newest;
}

/** Whether root (a directory URL ending in /) holds a build (dist/BUILD, written last by `npm run build`) no source is newer than. */
export function compiledIsFresh(root) {
  const built = mtime(new URL('dist/BUILD', root));
  return built !== null && newestSource(root) <= built;
}
