/**
 * `portwarden config check FILE` (like `nginx -t`): the file parsed exactly as `start` parses it
 * (load.ts), then what `start` reads from the host because of the file, read the same way: allowlist
 * host names resolved (decide/allowlist.ts) and, with inline mode on, the DNS blocklists loaded
 * (dns/blocklist-file.ts), and the rule files of `rules.directory` compiled (rules/). So a file `start` would refuse is refused here, and one it accepts passes.
 * Nothing is changed on the host.
 */
import { buildAllowlist } from '../decide/allowlist.js';
import { loadBlocklists } from '../dns/blocklist-file.js';
import type { ProfileName } from '../model/profile.js';
import { buildRuleEngine } from '../rules/index.js';
import { loadConfigFile, type PortwardenConfig } from './load.js';

/**
 * @throws ConfigError as loadConfigFile (file:line problems); PortwardenError PW_ERR_DECIDE_INPUT for an
 *   allowlist host name that does not resolve, PW_ERR_DNS_BLOCKLIST for a blocklist file start could not load,
 *   PW_ERR_RULE for a rule file of rules.directory that start would refuse (file:line:column).
 */
export async function checkConfigFile(path: string, profileOverride?: ProfileName): Promise<PortwardenConfig> {
  const config = loadConfigFile(path, profileOverride);
  await buildAllowlist(config.allowlist);
  if (config.inline.enabled) loadBlocklists(config.dns.blocklists, { strict: config.dns.strictLists });
  buildRuleEngine(config.rules, config.source); // the rule files of rules.directory, as start reads them
  return config;
}
