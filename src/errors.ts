/**
 * The error catalogue: every error portwarden raises carries one of these stable codes, so callers
 * and tests match on `code`, never on message text. README "Errors" documents each one.
 */
export const ErrorCode = {
  PW_ERR_CAPTURE_OPEN: 'cannot open a capture file',
  PW_ERR_CAPTURE_FORMAT: 'not a pcap or pcapng file, or an unsupported version',
  PW_ERR_CAPTURE_TRUNCATED: 'capture file ends inside a record',
  PW_ERR_CAPTURE_CORRUPT: 'capture record with an impossible length or layout',
  PW_ERR_CAPTURE_LIVE: 'cannot open or bind the live capture',
  PW_ERR_CONFIG_READ: 'cannot read the config file',
  PW_ERR_CONFIG_SYNTAX: 'config file is not valid YAML',
  PW_ERR_CONFIG_INVALID: 'config value of the wrong type or range, or an unknown key',
  PW_ERR_USAGE: 'bad command-line arguments',
  PW_ERR_ENFORCE: 'the kernel refused a firewall change (nftables netlink or nft), or a ban target is invalid',
  PW_ERR_DECIDE_INPUT: 'not an IP address or network, or a decision setting out of range',
  PW_ERR_CONTROL: 'the control socket failed, or the daemon refused a control request',
  PW_ERR_OBSERVE_LISTEN: 'cannot bind the observe listener (observe.listen, --metrics-listen): address in use or not on this host',
  PW_ERR_STATE: 'the state database (state.dir) cannot be opened, read or written: corrupt, locked, or not a portwarden database',
  PW_ERR_RESPOND: 'cannot answer scanners: the rawsend addon is missing or a raw socket cannot be opened (needs CAP_NET_RAW), or a crafted reply is invalid',
  PW_ERR_INLINE: 'inline mode failed: the nfqueue addon is missing, an NFQUEUE cannot be bound or configured, or its queue rules cannot be installed',
  PW_ERR_DNS_BLOCKLIST: 'a DNS blocklist file cannot be read, or a line in it is not a domain name (file:line)',
  PW_ERR_RUNNING: 'another portwarden daemon already holds this state directory or control socket (its pid is named)',
  PW_ERR_ADDON: 'a native addon (native/<name>) is not built, cannot be loaded, or is stale (its sources changed since the build, or it was built for another Node): run `npm rebuild portwarden`, or `node scripts/build-native.mjs` in a checkout',
  PW_ERR_NETLINK: 'a netlink socket call failed (the error carries `errno` and `syscall`), or the netlink addon was called with bad arguments',
  PW_ERR_LAPI: 'the CrowdSec decision stream (lapi) cannot bind lapi.listen (address in use or not on this host), or a bouncer key file (lapi.keys[].keyFile) cannot be read or holds no key',
  PW_ERR_FEED: 'a threat feed cannot be fetched (HTTP status, timeout, size cap, too soon for its source), is refused by its parser (most lines bad, an HTML page, cut short, shrunk past maxShrink), or its kernel set cannot be loaded',
  PW_ERR_RULE: 'a rule file cannot be read, or a rule in it is invalid (file:line:column): a bad or too large CEL filter, an unknown field, a bad bucket or action',
  PW_ERR_FLEET: 'the fleet cannot start: its signing key file (fleet.keyFile) cannot be read or made, or a NATS credentials, nkey or TLS file cannot be read',
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;

export class PortwardenError extends Error {
  readonly code: ErrorCodeName;

  constructor(code: ErrorCodeName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PortwardenError';
    this.code = code;
  }
}

/** A capture-file error: `offset` is the byte offset in the file where the problem starts. */
export class CaptureError extends PortwardenError {
  readonly file: string;
  readonly offset: number;

  constructor(code: ErrorCodeName, file: string, offset: number, detail: string, options?: { cause?: unknown }) {
    super(code, `${file}: byte offset ${offset}: ${detail}`, options);
    this.name = 'CaptureError';
    this.file = file;
    this.offset = offset;
  }
}

/** A config error: one entry per problem, each naming file, line and field. */
export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  field: string;
  message: string;
}

export class ConfigError extends PortwardenError {
  readonly problems: readonly ConfigProblem[];

  constructor(code: ErrorCodeName, problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    super(code, problems.map(formatConfigProblem).join('\n'), options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatConfigProblem(p: ConfigProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return p.field ? `${where}: ${p.field}: ${p.message}` : `${where}: ${p.message}`;
}
