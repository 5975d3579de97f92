/**
 * Fetching one feed: http(s) with a conditional GET (If-None-Match / If-Modified-Since), a timeout over
 * the whole download, a size cap enforced while reading (a 50 MB answer stops at the cap, it is never
 * held whole), `${ENV}` in header values; or a file:// path (its mtime stands in for Last-Modified).
 *
 * Every failure is a PW_ERR_FEED naming the feed and what went wrong; the caller keeps the last good
 * copy (a failing fetch never empties a set).
 */
import { open, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PortwardenError } from '../../errors.js';
import type { ResolvedFeed } from '../settings.js';

/** What the last good download said about itself, for the next conditional GET. */
export interface Validators {
  etag?: string;
  lastModified?: string;
}

export type FetchResult = { kind: 'not-modified' } | { kind: 'body'; body: string; validators: Validators };

function feedError(feed: ResolvedFeed, message: string, cause?: unknown): PortwardenError {
  return new PortwardenError('PW_ERR_FEED', `feed ${feed.name}: ${message}`, { cause });
}

/**
 * `${NAME}` in a header value becomes the environment variable's value. An unset variable is an error:
 * sending the literal text (or an empty key) would only earn a 401 and count against the quota.
 */
export function expandHeaders(feed: ResolvedFeed, env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(feed.headers)) {
    out[name] = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, variable: string) => {
      const v = env[variable];
      if (v === undefined || v === '') throw feedError(feed, `header ${name} names the environment variable ${variable}, which is not set`);
      return v;
    });
  }
  return out;
}

export async function fetchFeed(feed: ResolvedFeed, previous: Validators | null, env: NodeJS.ProcessEnv = process.env): Promise<FetchResult> {
  if (feed.url.startsWith('file://')) return fetchFile(feed, previous);
  const headers = expandHeaders(feed, env);
  if (previous?.etag !== undefined) headers['If-None-Match'] = previous.etag;
  if (previous?.lastModified !== undefined) headers['If-Modified-Since'] = previous.lastModified;
  headers['User-Agent'] ??= 'portwarden-feeds';
  if (feed.format === 'crowdsec') headers.Accept ??= 'application/json';
  const timeoutMs = feed.timeoutSeconds * 1000;
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(feed.url, { headers, signal, redirect: 'follow' });
  } catch (err) {
    throw feedError(feed, signal.aborted ? `no answer within ${feed.timeoutSeconds}s` : `cannot fetch ${feed.url}: ${causeText(err)}`, err);
  }
  if (response.status === 304) {
    await response.body?.cancel();
    return { kind: 'not-modified' };
  }
  if (response.status < 200 || response.status > 299) {
    await response.body?.cancel();
    throw feedError(feed, `${feed.url} answered HTTP ${response.status} ${response.statusText}`);
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > feed.maxBytes) {
    await response.body?.cancel();
    throw feedError(feed, `${feed.url} announces ${declared} bytes, over the size cap of ${feed.maxBytes} (maxBytes)`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      size += chunk.byteLength;
      if (size > feed.maxBytes) break; // leaving the loop cancels the stream: the rest is never read
      chunks.push(chunk);
    }
  } catch (err) {
    throw feedError(feed, signal.aborted ? `the download did not finish within ${feed.timeoutSeconds}s` : `the download was cut short after ${size} bytes: ${causeText(err)}`, err);
  }
  if (size > feed.maxBytes) throw feedError(feed, `${feed.url} sent more than the size cap of ${feed.maxBytes} bytes (maxBytes); download stopped`);
  if (Number.isFinite(declared) && size !== declared) throw feedError(feed, `the download was cut short: ${size} of ${declared} bytes`);
  const validators: Validators = {};
  const etag = response.headers.get('etag');
  const lastModified = response.headers.get('last-modified');
  if (etag !== null) validators.etag = etag;
  if (lastModified !== null) validators.lastModified = lastModified;
  return { kind: 'body', body: Buffer.concat(chunks, size).toString('utf8'), validators };
}

function causeText(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string; code?: string } };
  return [e.message, e.cause?.code ?? e.cause?.message].filter((x) => x !== undefined && x !== '').join(': ');
}

async function fetchFile(feed: ResolvedFeed, previous: Validators | null): Promise<FetchResult> {
  const path = fileURLToPath(feed.url);
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw feedError(feed, `cannot read ${path}: ${(err as Error).message}`, err);
  }
  const lastModified = info.mtime.toUTCString() + ` ${info.mtimeMs}`;
  if (previous?.lastModified === lastModified) return { kind: 'not-modified' };
  if (info.size > feed.maxBytes) throw feedError(feed, `${path} has ${info.size} bytes, over the size cap of ${feed.maxBytes} (maxBytes)`);
  const handle = await open(path, 'r');
  try {
    const body = await handle.readFile({ encoding: 'utf8' });
    return { kind: 'body', body, validators: { lastModified } };
  } finally {
    await handle.close();
  }
}
