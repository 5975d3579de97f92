/**
 * `portwarden rules test RULES.yaml --pcap FILE... [--json]`: runs the capture through detection with the
 * file's rules (probe rules beside detection, incident rules on every incident) and shows, per rule,
 * what it matched and what it would have done. Nothing touches the kernel, the state or the alert
 * channels. Exit 0 when no rule fired, 1 when one did, 2 on an error.
 */
import { checkCaptureFile } from '../capture/capture-file.js';
import { defaultConfig, loadConfigFile } from '../config/load.js';
import { analyzeFiles, Pipeline } from '../detect/pipeline.js';
import type { IncidentRecord } from '../model/incident.js';
import { describeAction } from '../model/rule.js';
import type { ProfileName } from '../model/profile.js';
import { buildRuleEngine } from '../rules/index.js';
import { wouldDo } from '../rules/verdict.js';
import type { Output } from './analyze.js';
import { formatIncidentLine } from './format.js';

export interface RulesTestOptions {
  pcap: string[];
  json: boolean;
  config?: string;
  profile?: ProfileName;
}

interface RuleReport {
  rule: string;
  on: 'incident' | 'probe';
  file: string;
  action: string;
  /** Probes or incidents the filter matched. */
  matched: number;
  /** Times it fired (its bucket overflowed, or its filter matched without a bucket). */
  fired: number;
  /** Incidents it would have ruled (it fired first), each with what it would have done. */
  ruled: { incident: IncidentRecord; would: string }[];
  /** Incidents it fired on that an earlier rule ruled. */
  shadowed: number;
}

export async function runRulesTest(rulesFile: string, options: RulesTestOptions, io: Output): Promise<number> {
  if (options.pcap.length === 0) {
    io.err('portwarden: PW_ERR_USAGE: name a capture with --pcap FILE');
    return 2;
  }
  for (const file of options.pcap) {
    const problem = checkCaptureFile(file);
    if (problem !== null) {
      io.err(`portwarden: ${problem.code}: ${problem.message}`);
      return 2;
    }
  }
  const config = options.config !== undefined ? loadConfigFile(options.config, options.profile) : defaultConfig(options.profile);
  // Only the file's rules: the config gives the profile, detection settings and the caps.
  const rules = buildRuleEngine({ ...config.rules, directory: null, inline: [] }, config.source, { keepMade: true, extraFiles: [rulesFile] });
  const pipeline = new Pipeline(config.detection, null, config.baseline, config.anomaly, { probes: rules.hasProbeRules ? rules.onProbe : null });
  const reports = analyzeFiles(options.pcap, pipeline);
  for (const r of reports) if (r.error !== null) io.err(`portwarden: ${r.error.code}: ${r.error.message}`);
  const incidents = [...pipeline.engine.incidents().map((i) => i.toRecord()), ...rules.made].sort((a, b) => (a.last_seen < b.last_seen ? -1 : a.last_seen > b.last_seen ? 1 : 0));

  const byRule = new Map<string, RuleReport>(
    rules.rules.map((r) => [r.spec.name, { rule: r.spec.name, on: r.spec.on, file: `${r.file}:${r.line}`, action: describeAction(r.spec.action), matched: 0, fired: 0, ruled: [], shadowed: 0 }]),
  );
  for (const incident of incidents) {
    rules.ruleAll(incident).forEach((ruling, i) => {
      const report = byRule.get(ruling.rule)!;
      if (i === 0) report.ruled.push({ incident, would: wouldDo(ruling.action, incident, config.decide.banSeconds) });
      else report.shadowed++;
    });
  }
  for (const [name, stats] of rules.stats) {
    const report = byRule.get(name)!;
    report.matched = stats.matches;
    report.fired = stats.fired;
  }
  const fired = [...byRule.values()].some((r) => r.fired > 0);
  if (options.json) {
    for (const r of byRule.values()) io.out(JSON.stringify({ ...r, ruled: r.ruled.map((x) => ({ would: x.would, incident: x.incident })) }));
  } else {
    io.out(`${rulesFile}: ${rules.rules.length} rule${rules.rules.length === 1 ? '' : 's'} on ${options.pcap.join(', ')} (profile ${config.profile}); ${incidents.length} incident${incidents.length === 1 ? '' : 's'} (${rules.made.length} made by probe rules)`);
    for (const r of byRule.values()) {
      const unit = r.on === 'probe' ? 'probes' : 'incidents';
      io.out(`rule ${r.rule} (${r.on}, ${r.file}): ${r.action}; matched ${r.matched} ${unit}, fired ${r.fired}${r.shadowed > 0 ? `, ${r.shadowed} already ruled by an earlier rule` : ''}`);
      for (const x of r.ruled.slice(0, 20)) io.out(`  would ${x.would}: ${formatIncidentLine(x.incident)}`);
      if (r.ruled.length > 20) io.out(`  … and ${r.ruled.length - 20} more`);
    }
  }
  if (reports.some((r) => r.error !== null)) return 2;
  return fired ? 1 : 0;
}
