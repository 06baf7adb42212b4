// Written by `npm run build` after tsc: dist/BUILD marks when the compiled package was made. bin/selfcest.mjs
// runs dist/ only while no source under src/ (or a tsconfig) is newer than this stamp; else the sources, via tsx.
import { writeFileSync } from 'node:fs';

writeFileSync(new URL('../dist/BUILD', import.meta.url), `${new Date().toISOString()}\n`);
