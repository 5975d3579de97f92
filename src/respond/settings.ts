/**
 * What portwarden does to a scanner's later probes once decide has banned it, per profile: `drop`
 * (silence, the ban alone), `rst` (every port answers closed), `try-harder` (a TCP segment carrying a
 * text back to the scanner's source port) or `syn-ack` (every port answers open, so the scan's
 * results are worthless). Every answer is rate-limited per source and globally, so the host can never
 * be made a reflector or amplifier: at most `maxPerSecond` replies of at most
 * 40 + 20 + MAX_TEXT_BYTES bytes leave the host per second, whatever arrives.
 *
 * The profiles all default to `drop`: an answer is an active measure the operator opts into.
 */
import { z } from 'zod';
import type { ProfileName } from '../model/profile.js';
import { describe, intRange, oneOf, positiveInt, section, type SettingsSection } from '../model/settings-kit.js';

export const RESPONSE_MODES = ['drop', 'rst', 'try-harder', 'syn-ack'] as const;
export type ResponseMode = (typeof RESPONSE_MODES)[number];

/** The try-harder text is short: a reply must never be a useful amplifier. */
export const MAX_TEXT_BYTES = 128;

export interface RespondSettings {
  mode: ResponseMode;
  /** The try-harder text (UTF-8, at most MAX_TEXT_BYTES bytes). */
  text: string;
  /** NFLOG group the kernel hands a banned scanner's SYNs to (try-harder, syn-ack); not the capture group. */
  nflogGroup: number;
  /** Replies per second from the whole host (kernel and user space each enforce it). */
  maxPerSecond: number;
  burst: number;
  /** Replies per second to one source. */
  perSourcePerSecond: number;
  perSourceBurst: number;
  /** After a flood from spoofed sources, nobody is answered for this long (its sources may be anyone). */
  floodHoldMs: number;
  /** Sources whose per-source bucket is remembered; past it the least recently answered is forgotten. */
  maxSources: number;
}

const base: RespondSettings = {
  mode: 'drop',
  text: 'Try Harder\n',
  nflogGroup: 7312,
  maxPerSecond: 100,
  burst: 100,
  perSourcePerSecond: 20,
  perSourceBurst: 50,
  floodHoldMs: 60_000,
  maxSources: 65_536,
};

export const RESPOND_PROFILES: Readonly<Record<ProfileName, Readonly<RespondSettings>>> = {
  normal: Object.freeze({ ...base }),
  aggressive: Object.freeze({ ...base }),
  paranoid: Object.freeze({ ...base }),
};

export const respondSchema = section({
  mode: oneOf(RESPONSE_MODES),
  text: z.string({ error: (issue) => `must be a string, got ${describe(issue.input)}` }).refine((value) => Buffer.byteLength(value, 'utf8') <= MAX_TEXT_BYTES, {
    error: `must be at most ${MAX_TEXT_BYTES} bytes (UTF-8): a reply must never be a useful amplifier`,
  }),
  nflogGroup: intRange(0, 65535),
  maxPerSecond: positiveInt,
  burst: positiveInt,
  perSourcePerSecond: positiveInt,
  perSourceBurst: positiveInt,
  floodHoldMs: positiveInt,
  maxSources: positiveInt,
}) satisfies z.ZodType<RespondSettings>;

/** The config's `respond` section. */
export const respondSettings: SettingsSection<RespondSettings> = {
  schema: respondSchema,
  defaults: (profile) => ({ ...RESPOND_PROFILES[profile] }),
};

/**
 * The one rule between respond and capture: answers given in user space read their own NFLOG group, so
 * it must not be the capture's. Checked by the responder at start and by the config parser (config/).
 * @returns the problem, or null.
 */
export function respondGroupConflict(s: Pick<RespondSettings, 'mode' | 'nflogGroup'>, captureGroup: number): string | null {
  if (s.nflogGroup === captureGroup && answeredInUserSpace(s.mode)) {
    return `respond.nflogGroup ${s.nflogGroup} is capture.nflogGroup too: responses (mode ${s.mode}) need an NFLOG group of their own`;
  }
  return null;
}

/** Answers other than `drop` go through user space (NFLOG + raw socket) for these modes; `rst` is the kernel's own. */
export function answeredInUserSpace(mode: ResponseMode): boolean {
  return mode === 'try-harder' || mode === 'syn-ack';
}
