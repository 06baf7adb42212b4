/**
 * One rollout tree as a self-contained HTML page: inline CSS, no scripts, no external resources. Each context
 * is a collapsible box (<details>) showing its token sequence; a call's clones are nested in a box placed right
 * after the call's tokens, before the tokens injected in return. Every piece of model or file text is escaped.
 * Pure TS: no tfjs.
 */
import type { TextTokenizer } from '../tokenizer/index.ts';
import type { CallRecord, Context, Tree } from './tree.ts';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; margin: 0 0 .4em; }
table.cost { border-collapse: collapse; margin: .6em 0 1em; }
table.cost th, table.cost td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
table.cost th { background: #eee; font-weight: 600; }
.legend span { margin-right: .8em; }
details.ctx { border: 1px solid #999; border-radius: 6px; margin: .5em 0; padding: .3em .6em; background: #fff; }
details.ctx.clone { border-color: #6a8fc7; background: #f6f9ff; }
details.ctx.clone details.ctx.clone { background: #fff; }
summary { cursor: pointer; }
summary .cid { font-weight: 700; }
.meta { color: #555; }
.toks { font: 13px/1.7 ui-monospace, Menlo, monospace; white-space: pre-wrap; word-break: break-all; margin: .3em 0; }
.t { border-radius: 2px; }
.t.p { background: #eceff1; color: #455a64; }
.t.s { background: #e3f5e1; color: #1b5e20; }
.t.i { background: #fff3d6; color: #8a5a00; }
.t.ans { background: #ffe066; color: #000; font-weight: 700; outline: 1px solid #d4a900; }
.t.call { text-decoration: underline dotted #3559a6; }
.t.bad { text-decoration: underline wavy #c62828; }
.outcome { margin: .3em 0; }
.mark-ok { color: #2e7d32; font-weight: bold; }
.mark-bad { color: #c62828; font-weight: bold; }
.sp { font-size: .72em; border: 1px solid currentColor; border-radius: 3px; padding: 0 2px; margin: 0 1px; vertical-align: 1px; }
.ws { opacity: .45; }
.callbox { border-left: 3px solid #3559a6; margin: .4em 0 .4em .3em; padding: .1em 0 .1em .6em; white-space: normal; font: 14px/1.45 system-ui, sans-serif; }
.callbox.bad { border-left-color: #c62828; }
.callbox .callhead { color: #3559a6; font-weight: 600; }
.callbox.bad .callhead { color: #c62828; }
.answer { margin: .2em 0; }
.answer .text { background: #ffe066; padding: 0 4px; white-space: pre-wrap; font-family: ui-monospace, Menlo, monospace; }
.none { color: #888; font-style: italic; }
`;

/** A token's text with whitespace made visible: space ·, tab →, newline ↵ plus a line break. */
function tokenText(text: string): string {
  let out = '';
  for (const ch of text) {
    if (ch === '\n') out += '<span class="ws">↵</span><br>';
    else if (ch === ' ') out += '<span class="ws">·</span>';
    else if (ch === '\t') out += '<span class="ws">→</span>';
    else if (ch < ' ' || ch === '\x7f') out += `<span class="ws">\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}</span>`;
    else out += escapeHtml(ch);
  }
  return out;
}

/** Positions [from, to) of the answer tokens inside the context: after the last answer marker that matches. */
function answerSpan(c: Context, answerMarker: number): [number, number] | null {
  const a = c.answer;
  if (!a?.length) return null;
  for (let i = c.ids.length - a.length - 1; i >= c.promptLength; i--) {
    if (c.ids[i] === answerMarker && a.every((t, k) => c.ids[i + 1 + k] === t)) return [i + 1, i + 1 + a.length];
  }
  return null;
}

function renderToken(c: Context, pos: number, tok: TextTokenizer, extra: string[]): string {
  const id = c.ids[pos];
  const kind = pos < c.promptLength ? 'p' : c.lossMask[pos] === 1 ? 's' : 'i';
  const what = kind === 'p' ? 'prompt' : kind === 's' ? `sampled, logprob ${c.logprobs[pos].toFixed(3)}` : 'injected';
  const text = tok.token(id);
  const special = tok.isSpecial(id);
  const cls = ['t', kind, ...extra, ...(special ? ['sp'] : [])].join(' ');
  const body = special ? escapeHtml(text) : tokenText(text);
  return `<span class="${cls}" title="${escapeHtml(`#${pos} id ${id}: ${what}`)}">${body}</span>`;
}

class Renderer {
  readonly done = new Set<number>();
  constructor(
    readonly tree: Tree,
    readonly tok: TextTokenizer,
  ) {}

  context(id: number): string {
    const c = this.tree.contexts[id];
    if (!c || this.done.has(id)) return '';
    this.done.add(id);
    const generated = c.lossMask.reduce((s, m) => s + m, 0);
    const meta = [
      `depth ${c.depth}`,
      `finish ${c.finish ?? 'none'}`,
      `budget ${c.budget}`,
      `prompt ${c.promptLength}`,
      `generated ${generated}`,
      `${c.ids.length} tokens`,
    ].join(' · ');
    const answer =
      c.answer === null
        ? '<div class="answer none">no answer</div>'
        : `<div class="answer">answer: <span class="text">${escapeHtml(this.tok.decode(c.answer))}</span></div>`;
    return (
      `<details class="ctx ${escapeHtml(c.role)}" id="ctx-${c.id}" open>` +
      `<summary><span class="cid">#${c.id} ${escapeHtml(c.role)}</span> <span class="meta">${escapeHtml(meta)}</span></summary>` +
      `<div class="toks">${this.tokens(c)}</div>${answer}</details>`
    );
  }

  /** The token sequence, with each call's box inserted right after the call's last token. */
  tokens(c: Context): string {
    const mark: string[][] = c.ids.map(() => []);
    const ans = answerSpan(c, this.tok.id('<answer>'));
    if (ans) for (let p = ans[0]; p < ans[1]; p++) mark[p].push('ans');
    for (const call of c.calls) {
      for (let p = call.start; p < Math.min(call.end, c.ids.length); p++) mark[p].push(call.malformed ? 'bad' : 'call');
    }
    const byEnd = [...c.calls].sort((a, b) => a.end - b.end);
    let out = '';
    let pos = 0;
    for (const call of byEnd) {
      for (; pos < Math.min(call.end, c.ids.length); pos++) out += renderToken(c, pos, this.tok, mark[pos]);
      out += this.call(call);
    }
    for (; pos < c.ids.length; pos++) out += renderToken(c, pos, this.tok, mark[pos]);
    return out;
  }

  call(call: CallRecord): string {
    const head = [
      `call #${call.index}`,
      `tokens ${call.start}–${call.end}`,
      call.malformed ? `MALFORMED: ${call.malformed}` : `${call.clones.length} clone${call.clones.length === 1 ? '' : 's'}`,
      `${call.injected} tokens injected`,
    ].join(' · ');
    const clones = call.clones.map((id) => this.context(id)).join('');
    return `<div class="callbox${call.malformed ? ' bad' : ''}"><div class="callhead">${escapeHtml(head)}</div>${clones}</div>`;
  }
}

const COST_COLUMNS: [string, (t: Tree) => number][] = [
  ['root generated', (t) => t.cost.rootGenerated],
  ['clone generated', (t) => t.cost.cloneGenerated],
  ['root tokens', (t) => t.cost.rootTokens],
  ['clone tokens', (t) => t.cost.cloneTokens],
  ['processed', (t) => t.cost.processedTokens],
  ['critical path', (t) => t.cost.criticalPathTokens],
  ['calls', (t) => t.cost.calls],
  ['clones', (t) => t.cost.clones],
  ['malformed', (t) => t.cost.malformed],
  ['ms', (t) => Math.round(t.cost.ms)],
];

/** gold, answer ✓/✗ and the reward with its components, when an evaluation recorded them */
function outcomeLine(tree: Tree): string {
  const o = tree.outcome;
  if (!o) return '';
  const mark = o.correct === 1 ? '<span class="mark-ok">✓</span>' : '<span class="mark-bad">✗</span>';
  const parts = Object.entries(o.components).map(([k, v]) => `${escapeHtml(k)} ${Number.isInteger(v) ? v : v.toFixed(3)}`);
  return `<div class="outcome">gold <b>${escapeHtml(o.gold)}</b> · answer <b>${o.answer === null ? '(none)' : escapeHtml(o.answer)}</b> ${mark} · reward ${o.reward.toFixed(3)}${parts.length ? ` (${parts.join(', ')})` : ''}</div>`;
}

export function renderTreeHtml(tree: Tree, tok: TextTokenizer, opts: { title?: string } = {}): string {
  const title = opts.title ?? `selfcest trace: ${tree.itemId}`;
  const r = new Renderer(tree, tok);
  let body = r.context(0);
  // Contexts no call reaches (only in a malformed tree) are still shown, after the root.
  for (const c of tree.contexts) if (!r.done.has(c.id)) body += r.context(c.id);
  const th = COST_COLUMNS.map(([name]) => `<th>${escapeHtml(name)}</th>`).join('');
  const td = COST_COLUMNS.map(([, get]) => `<td>${get(tree)}</td>`).join('');
  const legend =
    '<div class="legend toks"><span class="t p">prompt</span><span class="t s">sampled</span>' +
    '<span class="t i">injected</span><span class="t s ans">answer</span><span class="t s call">call</span>' +
    '<span class="t s bad">malformed call</span><span class="t s sp">&lt;special&gt;</span>' +
    '<span>space <span class="ws">·</span> newline <span class="ws">↵</span></span></div>';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<div>item <b>${escapeHtml(tree.itemId)}</b> · ${tree.contexts.length} contexts</div>
${outcomeLine(tree)}
<table class="cost"><tr>${th}</tr><tr>${td}</tr></table>
${legend}
${body}
</body>
</html>
`;
}
