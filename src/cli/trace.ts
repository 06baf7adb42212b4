import { commandMeta } from './commands.ts';
import type { CommandModule } from 'yargs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderTreeHtml } from '../rollout/trace-html.ts';
import { readTreesJsonl } from '../rollout/trace-io.ts';
import { loadTokenizer } from '../tokenizer/index.ts';
import { SelfcestError } from '../util/errors.ts';

interface Args {
  file: string;
  index: number;
  out?: string;
}

export const traceCommand: CommandModule<object, Args> = {
  ...commandMeta('trace'),
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'a JSONL file of rollout trees' })
      .option('index', { type: 'number', default: 0, describe: 'which tree of the file (0 = first line)' })
      .option('out', { type: 'string', describe: 'HTML file to write (default: <file without .jsonl>-<index>.html)' }) as never,
  handler: (a) => {
    if (!Number.isInteger(a.index) || a.index < 0) throw new SelfcestError(`--index ${a.index}: expected an integer >= 0`);
    const trees = readTreesJsonl(a.file);
    if (a.index >= trees.length) {
      const holds = trees.length === 0 ? 'holds no trees' : `holds ${trees.length} tree${trees.length === 1 ? '' : 's'} (--index 0..${trees.length - 1})`;
      throw new SelfcestError(`${a.file}: --index ${a.index} is out of range: the file ${holds}`);
    }
    const out = a.out ?? `${a.file.replace(/\.jsonl$/, '')}-${a.index}.html`;
    // trees hold token ids: an eval directory of an imported model's policy keeps that tokenizer (up to 3 levels up)
    const tokDir = [1, 2, 3].map((n) => path.resolve(a.file, ...Array<string>(n).fill('..'))).find((d) => fs.existsSync(path.join(d, 'tokenizer.json')));
    const html = renderTreeHtml(trees[a.index], tokDir ? loadTokenizer(tokDir) : loadTokenizer(), { title: `${path.basename(a.file)} #${a.index}: ${trees[a.index].itemId}` });
    try {
      fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      fs.writeFileSync(out, html);
    } catch (e) {
      throw new SelfcestError(`${out}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    console.log(out);
  },
};
