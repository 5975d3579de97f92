/**
 * Reading rule files: a YAML list of rules (settings.ts ruleSchema), every problem reported at once at
 * its file:line:column, a filter's problem at the character of the expression where it is (for plain,
 * quoted and block scalars alike). `rules.directory` is read file by file in name order; `portwarden
 * rules test FILE` reads one file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Node } from 'yaml';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { filterProblem, ruleSchema, type RuleLimits, type RuleSpec } from './settings.js';

/** A rule and where it was written. */
export interface PlacedRule {
  spec: RuleSpec;
  file: string;
  line: number;
}

function nodeAt(root: unknown, path: readonly PropertyKey[]): Node | undefined {
  let node: unknown = root;
  for (const segment of path) {
    if (isSeq(node) && typeof segment === 'number') node = node.items[segment];
    else if (isMap(node)) node = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment))?.value;
    else return undefined;
  }
  return node as Node | undefined;
}

/**
 * The file position of character `offset` (0-based) of a scalar's value: exact for one-line plain and
 * quoted scalars without escapes and for block scalars (`|`), the value's start otherwise.
 */
function scalarPosition(text: string, node: Scalar, offset: number, lc: LineCounter): { line: number; column: number } {
  const start = node.range?.[0] ?? 0;
  const at = lc.linePos(start);
  const value = String(node.value);
  if (node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) {
    const before = value.slice(0, offset);
    const lineInValue = before.split('\n').length - 1;
    const colInLine = offset - (before.lastIndexOf('\n') + 1);
    // The block's indentation is its first content line's; the value has it stripped from every line.
    const lines = text.split('\n');
    const first = lines[at.line] ?? '';
    const indent = first.length - first.trimStart().length;
    return { line: at.line + 1 + lineInValue, column: indent + colInLine + 1 };
  }
  const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE ? 1 : 0;
  const raw = text.slice(start + quoted, start + quoted + value.length);
  if (raw === value) return { line: at.line, column: at.col + quoted + offset };
  return { line: at.line, column: at.col };
}

/**
 * Parses rule-file text.
 * @throws ConfigError PW_ERR_RULE naming file:line:column of every problem.
 */
export function parseRuleText(text: string, file: string, limits: RuleLimits): PlacedRule[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true });
  const syntax = [...doc.errors, ...doc.warnings];
  if (syntax.length > 0) {
    throw new ConfigError(
      'PW_ERR_RULE',
      syntax.map((e) => ({ file, line: e.linePos?.[0]?.line ?? 0, column: e.linePos?.[0]?.col ?? 0, field: '', message: e.message.split('\n', 1)[0].replace(/ at line \d+, column \d+:?$/, '') })),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || raw === undefined) return [];
  const problems: ConfigProblem[] = [];
  const position = (path: readonly PropertyKey[]) => {
    for (let n = path.length; n >= 0; n--) {
      const node = nodeAt(doc.contents, path.slice(0, n));
      if (node?.range) {
        const p = lc.linePos(node.range[0]);
        return { line: p.line, column: p.col };
      }
    }
    return { line: 0, column: 0 };
  };
  if (!Array.isArray(raw)) {
    throw new ConfigError('PW_ERR_RULE', [{ file, ...position([]), field: '', message: 'a rule file must be a list of rules (- name: …, filter: …, action: …)' }]);
  }
  const rules: PlacedRule[] = [];
  const names = new Set<string>();
  raw.forEach((item: unknown, i) => {
    const field = (path: readonly PropertyKey[]) => `[${i}]${path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${String(s)}`)).join('')}`;
    const parsed = ruleSchema.safeParse(item);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const path = [i, ...issue.path];
        const message = issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (allowed: name, on, filter, groupby, distinct, capacity, leakspeed, blackhole, action)` : issue.message;
        problems.push({ file, ...position(path), field: field(issue.path), message });
      }
      return;
    }
    const spec = parsed.data;
    if (names.has(spec.name)) problems.push({ file, ...position([i, 'name']), field: field(['name']), message: `a second rule named ${JSON.stringify(spec.name)} (rule names must be unique)` });
    names.add(spec.name);
    const problem = filterProblem(spec, limits);
    if (problem !== null) {
      const node = nodeAt(doc.contents, [i, 'filter']);
      const at = node instanceof Scalar ? scalarPosition(text, node, problem.column - 1, lc) : position([i, 'filter']);
      problems.push({ file, ...at, field: field(['filter']), message: problem.message });
      return;
    }
    rules.push({ spec, file, line: position([i]).line });
  });
  if (problems.length > 0) throw new ConfigError('PW_ERR_RULE', problems.sort((a, b) => a.line - b.line || a.column - b.column));
  return rules;
}

export function loadRuleFile(path: string, limits: RuleLimits): PlacedRule[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError('PW_ERR_RULE', [{ file: path, line: 0, column: 0, field: '', message: cause instanceof Error ? cause.message : String(cause) }], { cause });
  }
  return parseRuleText(text, path, limits);
}

/** Every `*.yaml` / `*.yml` file of `dir`, in name order. */
export function loadRuleDirectory(dir: string, limits: RuleLimits): PlacedRule[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort();
  } catch (cause) {
    throw new ConfigError('PW_ERR_RULE', [{ file: dir, line: 0, column: 0, field: 'rules.directory', message: cause instanceof Error ? cause.message : String(cause) }], { cause });
  }
  return names.flatMap((n) => loadRuleFile(join(dir, n), limits));
}
