/**
 * The rules room's door: the engine built from the `rules` section (inline rules, then the directory's
 * files in name order), or from one rule file (`portwarden rules test`).
 */
import { ConfigError } from '../errors.js';
import { compileRules, RuleEngine } from './engine.js';
import { loadRuleDirectory, loadRuleFile, type PlacedRule } from './rule-file.js';
import type { RulesSettings } from './settings.js';

export { RuleEngine, type CompiledRule, type RuleStats } from './engine.js';
export type { RulesSettings, RuleSpec } from './settings.js';

/**
 * @param configFile names the inline rules' file in problems and stats.
 * @throws ConfigError PW_ERR_RULE for a rule file that cannot be read or holds a bad rule.
 */
export function buildRuleEngine(settings: RulesSettings, configFile: string, options: { keepMade?: boolean; extraFiles?: readonly string[] } = {}): RuleEngine {
  const placed: PlacedRule[] = settings.inline.map((spec) => ({ spec, file: configFile, line: 0 }));
  if (settings.directory !== null) placed.push(...loadRuleDirectory(settings.directory, settings.limits));
  for (const f of options.extraFiles ?? []) placed.push(...loadRuleFile(f, settings.limits));
  const seen = new Map<string, PlacedRule>();
  for (const p of placed) {
    const first = seen.get(p.spec.name);
    if (first !== undefined) {
      throw new ConfigError('PW_ERR_RULE', [{ file: p.file, line: p.line, column: 0, field: 'name', message: `a second rule named ${JSON.stringify(p.spec.name)} (the first is in ${first.file}${first.line > 0 ? `:${first.line}` : ''})` }]);
    }
    seen.set(p.spec.name, p);
  }
  return new RuleEngine(compileRules(placed, settings.limits), settings.limits, options);
}
