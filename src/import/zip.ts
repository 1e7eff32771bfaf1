/**
 * @module
 * Reading a ZIP archive's entries without trusting it: the central directory (names, methods and
 * the DECLARED sizes, checked before anything is inflated) and one entry's bytes, inflated with the
 * platform's `DecompressionStream('deflate-raw')` (workerd, browsers and Node 22 alike) and stopped
 * as soon as the output passes the declared size, so a ZIP bomb costs at most the declared size.
 *
 * The directory reader is written here because the ZIP libraries (fflate's `unzipSync`, jszip) read
 * a whole archive in one call and give no entry offsets, while the import needs random access to one
 * entry at a time (a range read of the stored archive per queue message), and the size checks must
 * come before any inflating. Inflate itself is the platform's. No imports: the same module runs in
 * the Worker, in the dashboard's bundle and in the Node CLI (scripts/import.ts, type stripping).
 *
 * Supported: stored (0) and deflated (8) entries, data descriptors (sizes come from the central
 * directory), ZIP64 size/offset fields. Refused: encryption, other methods, multi-disk archives.
 */

export type ZipEntry = {
  /** The full path inside the archive, as stored (UTF-8). */
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  /** The uncompressed size the archive declares. */
  size: number;
  /** Where the entry's compressed bytes start in the archive. */
  dataOffset: number;
};

export type ZipErrorKind = 'not_zip' | 'corrupt' | 'unsupported' | 'too_large';

/** Why an archive or entry cannot be read; `too_large` when it declares or inflates past a limit. */
export class ZipError extends Error {
  readonly kind: ZipErrorKind;
  constructor(kind: ZipErrorKind, message: string) {
    super(message);
    this.kind = kind;
    this.name = 'ZipError';
  }
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const ZIP64_EXTRA = 0x0001;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_STRONG_ENCRYPTION = 0x0040;

const corrupt = (detail: string) => new ZipError('corrupt', `The ZIP file is damaged: ${detail}`);

function big(view: DataView, at: number): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt('a size or offset is out of range');
  return Number(value);
}

function findEndOfDirectory(view: DataView): number {
  const last = view.byteLength - EOCD_SIZE;
  for (let at = last; at >= 0 && at >= last - MAX_COMMENT; at--) {
    if (view.getUint32(at, true) === EOCD) return at;
  }
  return -1;
}

/**
 * The archive's entries (directories left out), from its central directory. Reads headers only:
 * nothing is inflated. Throws `ZipError` (`not_zip`, `corrupt`, `unsupported`).
 */
export function readZipDirectory(archive: Uint8Array): ZipEntry[] {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  if (archive.byteLength < EOCD_SIZE || view.getUint32(0, true) !== LOCAL) {
    // An empty archive is only an end record; anything else must start with a local header.
    if (!(archive.byteLength === EOCD_SIZE && view.getUint32(0, true) === EOCD))
      throw new ZipError('not_zip', 'The file is not a ZIP archive');
  }
  const end = findEndOfDirectory(view);
  if (end < 0) throw new ZipError('not_zip', 'The file is not a ZIP archive (no end of central directory)');
  if (view.getUint16(end + 4, true) !== 0 || view.getUint16(end + 6, true) !== 0)
    throw new ZipError('unsupported', 'Multi-part (spanned) ZIP archives are not supported');
  let count = view.getUint16(end + 10, true);
  let directorySize = view.getUint32(end + 12, true);
  let directoryOffset = view.getUint32(end + 16, true);
  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    const locator = end - 20;
    if (locator < 0 || view.getUint32(locator, true) !== ZIP64_LOCATOR) throw corrupt('missing ZIP64 locator');
    const record = big(view, locator + 8);
    if (record + 56 > archive.byteLength || view.getUint32(record, true) !== ZIP64_EOCD)
      throw corrupt('bad ZIP64 end record');
    count = big(view, record + 32);
    directorySize = big(view, record + 40);
    directoryOffset = big(view, record + 48);
  }
  if (directoryOffset + directorySize > archive.byteLength) throw corrupt('the central directory is cut off');

  const names = new TextDecoder();
  const entries: ZipEntry[] = [];
  let at = directoryOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > archive.byteLength || view.getUint32(at, true) !== CENTRAL) throw corrupt('bad directory entry');
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localOffset = view.getUint32(at + 42, true);
    const next = at + 46 + nameLength + extraLength + commentLength;
    if (next > archive.byteLength) throw corrupt('bad directory entry');
    const name = names.decode(archive.subarray(at + 46, at + 46 + nameLength));

    // ZIP64: the fields that overflow 32 bits are in the 0x0001 extra field, in this order.
    if (size === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      let extra = at + 46 + nameLength;
      const extraEnd = extra + extraLength;
      let found = false;
      while (extra + 4 <= extraEnd) {
        const id = view.getUint16(extra, true);
        const length = view.getUint16(extra + 2, true);
        if (id === ZIP64_EXTRA) {
          let field = extra + 4;
          const take = () => {
            if (field + 8 > extra + 4 + length) throw corrupt('short ZIP64 field');
            const value = big(view, field);
            field += 8;
            return value;
          };
          if (size === 0xffffffff) size = take();
          if (compressedSize === 0xffffffff) compressedSize = take();
          if (localOffset === 0xffffffff) localOffset = take();
          found = true;
          break;
        }
        extra += 4 + length;
      }
      if (!found) throw corrupt(`${name}: missing ZIP64 sizes`);
    }
    at = next;
    if (name.endsWith('/')) continue; // a directory

    if (flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION))
      throw new ZipError('unsupported', `${name} is encrypted; export it again without a password`);
    if (method !== 0 && method !== 8)
      throw new ZipError('unsupported', `${name} uses compression method ${method}; only stored and deflate are read`);
    if (localOffset + 30 > archive.byteLength || view.getUint32(localOffset, true) !== LOCAL)
      throw corrupt(`${name}: bad local header`);
    const dataOffset =
      localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    if (dataOffset + compressedSize > archive.byteLength) throw corrupt(`${name} is cut off`);
    if (method === 0 && compressedSize !== size) throw corrupt(`${name}: stored sizes disagree`);
    entries.push({ name, method, compressedSize, size, dataOffset });
  }
  return entries;
}

/** The bytes of an entry as stored in the archive (still compressed). */
export function entryBytes(archive: Uint8Array, entry: ZipEntry): Uint8Array {
  return archive.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
}

/**
 * Inflates one entry's stored bytes. Refuses an entry that declares more than `limit` bytes before
 * inflating anything, and stops (`too_large`) the moment the output passes the declared size: a
 * bomb that lies about its size costs at most its declared size. Output shorter than declared, or
 * a broken deflate stream, is `corrupt`.
 */
export async function inflateEntry(stored: Uint8Array, entry: ZipEntry, limit: number): Promise<Uint8Array> {
  if (entry.size > limit)
    throw new ZipError('too_large', `${entry.name} is ${entry.size} bytes uncompressed; the limit is ${limit} bytes`);
  if (stored.byteLength !== entry.compressedSize) throw corrupt(`${entry.name} is cut off`);
  if (entry.method === 0) return stored;
  const output = new Uint8Array(entry.size);
  let written = 0;
  const input = new Blob([stored as Uint8Array<ArrayBuffer>]).stream();
  const reader = input.pipeThrough(new DecompressionStream('deflate-raw')).getReader();
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        throw corrupt(`${entry.name} could not be inflated`);
      }
      if (chunk.done) break;
      if (written + chunk.value.byteLength > entry.size) {
        throw new ZipError('too_large', `${entry.name} inflates past its declared size of ${entry.size} bytes`);
      }
      output.set(chunk.value, written);
      written += chunk.value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
  if (written !== entry.size) throw corrupt(`${entry.name} is shorter than its declared size`);
  return output;
}
