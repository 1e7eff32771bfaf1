/**
 * The ZIP reader of the import (src/import/zip.ts) and the export's file rules (src/import/export-files.ts):
 * archives written by fflate (stored, deflated, in folders, with data descriptors), a hand-built ZIP64 entry,
 * and every refusal: not a ZIP, cut off, encrypted, unknown method, declared sizes over the limits, and an
 * entry that inflates past what it declares (stopped there).
 */
import { Zip, ZipDeflate, ZipPassThrough, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  firstShapeProblem,
  historyFileNumber,
  historyFiles,
  historySizeProblem,
  MAX_HISTORY_BYTES,
  MAX_HISTORY_FILE_BYTES,
} from '../src/import/export-files';
import { parseHistoryFile } from '../src/import/items';
import { entryBytes, inflateEntry, readZipDirectory, type ZipEntry, ZipError } from '../src/import/zip';
import { lieAboutSize, zipOf } from './support/zips';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function contents(archive: Uint8Array, entry: ZipEntry, limit = 1 << 20) {
  return text(await inflateEntry(entryBytes(archive, entry), entry, limit));
}

async function zipError(run: () => unknown): Promise<ZipError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(ZipError);
    return error as ZipError;
  }
  throw new Error('expected a ZipError');
}

describe('readZipDirectory + inflateEntry', () => {
  it('reads stored and deflated entries, skipping directories, with their declared sizes', async () => {
    const big = JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ id: i, text: 'x'.repeat(50) })));
    const archive = zipSync({
      'stored.json': [new TextEncoder().encode('[1,2,3]'), { level: 0 }],
      'export/watched-history-1.json': new TextEncoder().encode(big),
      'export/': new Uint8Array(0),
    });
    const entries = readZipDirectory(archive);
    expect(entries.map((e) => [e.name, e.method, e.size])).toEqual([
      ['stored.json', 0, 7],
      ['export/watched-history-1.json', 8, big.length],
    ]);
    expect(entries[1]!.compressedSize).toBeLessThan(big.length / 5);
    expect(await contents(archive, entries[0]!)).toBe('[1,2,3]');
    expect(await contents(archive, entries[1]!)).toBe(big);
  });

  it('reads entries written with data descriptors (sizes only in the central directory)', async () => {
    const chunks: Uint8Array[] = [];
    const zip = new Zip((error, chunk) => {
      if (error) throw error;
      chunks.push(chunk);
    });
    const deflated = new ZipDeflate('watched-history-2.json', { level: 6 });
    zip.add(deflated);
    deflated.push(new TextEncoder().encode('[{"a":'), false);
    deflated.push(new TextEncoder().encode('1}]'), true);
    const stored = new ZipPassThrough('user-profile.json');
    zip.add(stored);
    stored.push(new TextEncoder().encode('{}'), true);
    zip.end();
    const archive = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const chunk of chunks) {
      archive.set(chunk, at);
      at += chunk.length;
    }
    const entries = readZipDirectory(archive);
    expect(entries.map((e) => [e.name, e.size])).toEqual([
      ['watched-history-2.json', 9],
      ['user-profile.json', 2],
    ]);
    expect(await contents(archive, entries[0]!)).toBe('[{"a":1}]');
  });

  it('reads ZIP64 sizes from the extra field', async () => {
    const data = new TextEncoder().encode('[{"zip64":true}]');
    const archive = zip64Archive('watched-history-1.json', data);
    const [entry] = readZipDirectory(archive);
    expect(entry).toMatchObject({ name: 'watched-history-1.json', method: 0, size: data.length });
    expect(await contents(archive, entry!)).toBe('[{"zip64":true}]');
  });

  it('refuses what is not a ZIP, a cut-off ZIP, encryption and unknown methods', async () => {
    expect((await zipError(() => readZipDirectory(new TextEncoder().encode('{"not": "a zip"}')))).kind).toBe('not_zip');
    expect((await zipError(() => readZipDirectory(new Uint8Array(0)))).kind).toBe('not_zip');
    const archive = zipOf({ 'watched-history-1.json': '[]', 'b.json': '{}' });
    expect((await zipError(() => readZipDirectory(archive.subarray(0, archive.length - 30)))).kind).toMatch(
      /not_zip|corrupt/,
    );
    const encrypted = archive.slice();
    // General-purpose flag bit 0 in the first central directory header.
    const central = findSignature(encrypted, 0x02014b50);
    encrypted[central + 8]! |= 1;
    const enc = await zipError(() => readZipDirectory(encrypted));
    expect(enc.kind).toBe('unsupported');
    expect(enc.message).toMatch(/encrypted/);
    const bzip = archive.slice();
    bzip[central + 10] = 12; // method 12 (bzip2)
    expect((await zipError(() => readZipDirectory(bzip))).message).toMatch(/compression method 12/);
  });

  it('refuses an entry over the limit before inflating, and stops one that inflates past its declared size', async () => {
    const archive = zipOf({ 'watched-history-1.json': ' '.repeat(100_000) });
    const [entry] = readZipDirectory(archive);
    const tooLarge = await zipError(() => inflateEntry(entryBytes(archive, entry!), entry!, 50_000));
    expect(tooLarge.kind).toBe('too_large');
    expect(tooLarge.message).toMatch(/100000 bytes uncompressed; the limit is 50000/);

    const bomb = lieAboutSize(archive, 'watched-history-1.json', 1_000);
    const [liar] = readZipDirectory(bomb);
    expect(liar!.size).toBe(1_000);
    const stopped = await zipError(() => inflateEntry(entryBytes(bomb, liar!), liar!, MAX_HISTORY_FILE_BYTES));
    expect(stopped.kind).toBe('too_large');
    expect(stopped.message).toMatch(/inflates past its declared size of 1000 bytes/);

    const short = lieAboutSize(archive, 'watched-history-1.json', 200_000);
    const [shorter] = readZipDirectory(short);
    expect((await zipError(() => inflateEntry(entryBytes(short, shorter!), shorter!, 1 << 20))).kind).toBe('corrupt');
  });
});

describe('export files', () => {
  it('finds watched-history files in page order, also in a folder, never macOS copies', () => {
    expect(historyFileNumber('watched-history-12.json')).toBe(12);
    expect(historyFileNumber('trakt-export/watched-history-2.json')).toBe(2);
    expect(historyFileNumber('watched-history.json')).toBe(0);
    expect(historyFileNumber('__MACOSX/watched-history-1.json')).toBeNull();
    expect(historyFileNumber('._watched-history-1.json')).toBeNull();
    expect(historyFileNumber('watched-movies.json')).toBeNull();
    expect(historyFileNumber('watched-history-1.json.bak')).toBeNull();
    const ordered = historyFiles(
      ['watched-history-10.json', 'ratings-movies.json', 'watched-history-2.json', 'watched-history-1.json'].map(
        (name) => ({ name }),
      ),
    );
    expect(ordered.map((f) => f.name)).toEqual([
      'watched-history-1.json',
      'watched-history-2.json',
      'watched-history-10.json',
    ]);
  });

  it('checks the declared history sizes: per file and all together', () => {
    expect(historySizeProblem([{ name: 'watched-history-1.json', size: 400_000 }])).toBeNull();
    expect(historySizeProblem([{ name: 'watched-history-1.json', size: MAX_HISTORY_FILE_BYTES + 1 }])).toMatch(
      /watched-history-1\.json is \d+ bytes uncompressed/,
    );
    const many = Array.from({ length: 20 }, (_, i) => ({ name: `watched-history-${i + 1}.json`, size: 7 << 20 }));
    expect(20 * (7 << 20)).toBeGreaterThan(MAX_HISTORY_BYTES);
    expect(historySizeProblem(many)).toMatch(/The history files are \d+ bytes uncompressed/);
  });

  it('parses a history file all or nothing, naming the file and the item', () => {
    const movie = { id: 1, watched_at: '2024-01-01T00:00:00.000Z', action: 'watch', type: 'movie' };
    const good = { ...movie, movie: { title: 'A', year: 2000, ids: { trakt: 5, plex: { guid: 'x' } } } };
    expect(parseHistoryFile('watched-history-1.json', JSON.stringify([good]))).toMatchObject({ ok: true });
    expect(parseHistoryFile('watched-history-1.json', '[{"id": 1,')).toEqual({
      ok: false,
      error: expect.stringMatching(/^watched-history-1\.json: malformed JSON/),
    });
    expect(parseHistoryFile('watched-history-1.json', '{"id": 1}')).toEqual({
      ok: false,
      error: 'watched-history-1.json: expected a JSON array of history items',
    });
    const show = { ...good, id: 2, type: 'show', show: { ids: { trakt: 1 } } };
    expect(parseHistoryFile('watched-history-3.json', JSON.stringify([good, show]))).toEqual({
      ok: false,
      error: 'watched-history-3.json: item 1: type: unknown item type "show" (expected "movie" or "episode")',
    });
    const noShow = { id: 3, watched_at: '2024-01-01T00:00:00.000Z', action: 'watch', type: 'episode', episode: {} };
    const problem = parseHistoryFile('watched-history-3.json', JSON.stringify([good, good, noShow]));
    expect(problem).toMatchObject({ ok: false, error: expect.stringMatching(/^watched-history-3\.json: item 2: /) });
    expect(firstShapeProblem([good, show])).toEqual({
      index: 1,
      problem: 'unknown item type "show" (expected "movie" or "episode")',
    });
    expect(firstShapeProblem([good, noShow])).toEqual({
      index: 1,
      problem: 'an episode item needs an episode and a show',
    });
    expect(firstShapeProblem({})).toMatchObject({ problem: 'the file is not a JSON array' });
  });
});

function findSignature(bytes: Uint8Array, signature: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 4 <= bytes.length; at++) if (view.getUint32(at, true) === signature) return at;
  throw new Error('signature not found');
}

/** A one-entry stored ZIP whose central directory gives the sizes and offset in a ZIP64 extra field. */
function zip64Archive(name: string, data: Uint8Array): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  const local = new Uint8Array(30 + nameBytes.length);
  const lv = new DataView(local.buffer);
  lv.setUint32(0, 0x04034b50, true);
  lv.setUint16(4, 45, true);
  lv.setUint32(18, data.length, true);
  lv.setUint32(22, data.length, true);
  lv.setUint16(26, nameBytes.length, true);
  local.set(nameBytes, 30);
  const central = new Uint8Array(46 + nameBytes.length + 28);
  const cv = new DataView(central.buffer);
  cv.setUint32(0, 0x02014b50, true);
  cv.setUint16(4, 45, true);
  cv.setUint16(6, 45, true);
  cv.setUint32(20, 0xffffffff, true);
  cv.setUint32(24, 0xffffffff, true);
  cv.setUint16(28, nameBytes.length, true);
  cv.setUint16(30, 28, true);
  cv.setUint32(42, 0xffffffff, true);
  central.set(nameBytes, 46);
  const extra = 46 + nameBytes.length;
  cv.setUint16(extra, 0x0001, true);
  cv.setUint16(extra + 2, 24, true);
  cv.setBigUint64(extra + 4, BigInt(data.length), true);
  cv.setBigUint64(extra + 12, BigInt(data.length), true);
  cv.setBigUint64(extra + 20, 0n, true);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, 1, true);
  ev.setUint16(10, 1, true);
  ev.setUint32(12, central.length, true);
  ev.setUint32(16, local.length + data.length, true);
  const archive = new Uint8Array(local.length + data.length + central.length + end.length);
  archive.set(local, 0);
  archive.set(data, local.length);
  archive.set(central, local.length + data.length);
  archive.set(end, local.length + data.length + central.length);
  return archive;
}
