/**
 * Compiling a rule's CEL filter (@marcbachmann/cel-js: Google's CEL, no `eval`, no prototype access)
 * against the fields of fields.ts, with the caps that keep a hostile or careless rule file harmless:
 * the expression's length, its syntax tree's size and depth, literal list sizes, how deeply list macros
 * nest (every list a filter can see is bounded, so the work of one evaluation is too), and no regular
 * expressions (`matches` would hand a pattern to JavaScript's backtracking engine). A filter must be
 * boolean. A failure names the column in the expression and the reason.
 */
import { Environment } from '@marcbachmann/cel-js';
import { fieldsFor, type RuleSubject } from './fields.js';

export interface FilterLimits {
  /** Characters in one expression. */
  maxExpressionLength: number;
  /** Nodes of its syntax tree. */
  maxNodes: number;
  /** Nesting depth of its syntax tree (parentheses, operators, calls). */
  maxDepth: number;
}

/** List macros (all, exists, exists_one, map, filter) nested in one another at most this deep. */
export const MAX_MACRO_NESTING = 2;
/** Elements of a list literal, entries of a map literal. */
export const MAX_LITERAL_ELEMENTS = 256;

const MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
const REFUSED_FUNCTIONS: Readonly<Record<string, string>> = {
  matches: 'regular expressions are not allowed in rules (a pattern could backtrack for minutes); use startsWith, endsWith or contains',
};

/** A filter that could not be compiled: where in the expression (1-based column) and why. */
export class FilterError extends Error {
  readonly column: number;
  constructor(column: number, reason: string) {
    super(reason);
    this.name = 'FilterError';
    this.column = column;
  }
}

/** The parts of a cel-js syntax node this module reads. */
export interface CelNode {
  op: string;
  args: unknown;
  start: number;
  end: number;
}

export interface CompiledFilter {
  readonly expression: string;
  readonly ast: CelNode;
  /** true when the filter matches; a runtime error (a missing key, a division by zero) throws. */
  evaluate(context: Record<string, unknown>): boolean;
}

const environments = new Map<string, Environment>();

function environment(subject: RuleSubject, limits: FilterLimits): Environment {
  const key = `${subject}:${limits.maxNodes}:${limits.maxDepth}`;
  let env = environments.get(key);
  if (env === undefined) {
    env = new Environment({
      limits: { maxAstNodes: limits.maxNodes, maxDepth: limits.maxDepth, maxListElements: MAX_LITERAL_ELEMENTS, maxMapEntries: MAX_LITERAL_ELEMENTS, maxCallArguments: 8 },
    });
    for (const [name, field] of fieldsFor(subject)) env.registerVariable(name, field.type);
    environments.set(key, env);
  }
  return env;
}

interface CelErrorLike {
  range?: { start: number; end: number };
  summary?: string;
  message: string;
}

function asFilterError(err: unknown): FilterError {
  const e = err as CelErrorLike;
  const column = (e.range?.start ?? 0) + 1;
  const reason = (e.summary ?? e.message ?? String(err)).split('\n', 1)[0];
  return new FilterError(column, reason);
}

function isNode(value: unknown): value is CelNode {
  return typeof value === 'object' && value !== null && typeof (value as { op?: unknown }).op === 'string' && typeof (value as { start?: unknown }).start === 'number';
}

/** Every child node of `node` (args hold nodes, arrays of nodes, or plain values). */
export function children(node: CelNode): CelNode[] {
  const out: CelNode[] = [];
  const visit = (v: unknown, depth: number): void => {
    if (isNode(v)) out.push(v);
    else if (Array.isArray(v) && depth < 3) for (const x of v) visit(x, depth + 1);
  };
  visit(node.args, 0);
  return out;
}

/** Refuses what the parser allows but a rule must not do: regular expressions, deeply nested macros. */
function checkShape(node: CelNode, macroDepth: number): void {
  let depth = macroDepth;
  if (node.op === 'call' || node.op === 'rcall') {
    const name = Array.isArray(node.args) ? node.args[0] : undefined;
    if (typeof name === 'string') {
      const refused = REFUSED_FUNCTIONS[name];
      if (refused !== undefined) throw new FilterError(node.start + 1, refused);
      if (MACROS.has(name)) {
        depth++;
        if (depth > MAX_MACRO_NESTING) throw new FilterError(node.start + 1, `list macros nested ${depth} deep; at most ${MAX_MACRO_NESTING} are allowed (each level multiplies the work of one evaluation)`);
      }
    }
  }
  for (const child of children(node)) checkShape(child, depth);
}

/**
 * Compiles `expression` for rules on `subject` (incident or probe fields).
 * @throws FilterError with the column and the reason.
 */
export function compileFilter(expression: string, subject: RuleSubject, limits: FilterLimits): CompiledFilter {
  if (expression.length > limits.maxExpressionLength) {
    throw new FilterError(limits.maxExpressionLength + 1, `the expression is ${expression.length} characters long; at most ${limits.maxExpressionLength} are allowed`);
  }
  if (expression.trim() === '') throw new FilterError(1, 'the expression is empty');
  const env = environment(subject, limits);
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = env.parse(expression);
  } catch (err) {
    throw asFilterError(err);
  }
  const ast = parsed.ast as unknown as CelNode;
  checkShape(ast, 0);
  const checked = parsed.check();
  if (!checked.valid) throw asFilterError(checked.error);
  if (checked.type !== 'bool') throw new FilterError(1, `a filter must be true or false, but this expression gives ${String(checked.type)}`);
  return {
    expression,
    ast,
    evaluate: (context) => parsed(context) === true,
  };
}
