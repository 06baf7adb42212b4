/** Write schemas/<name>.schema.json for every config kind (src/cli/schemas.ts). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONFIG_SCHEMAS, configJsonSchema } from '../src/cli/schemas.ts';

const dir = path.resolve(import.meta.dirname, '../schemas');
fs.mkdirSync(dir, { recursive: true });
for (const name of Object.keys(CONFIG_SCHEMAS) as (keyof typeof CONFIG_SCHEMAS)[]) {
  fs.writeFileSync(path.join(dir, `${name}.schema.json`), configJsonSchema(name));
  console.log(`schemas/${name}.schema.json`);
}
