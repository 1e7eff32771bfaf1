/**
 * ZIP archives for the import tests, written with fflate (the simulator writes its exports the same
 * way), and a forger for ZIP bombs that lie about their size.
 */
import { zipSync } from 'fflate';

/** A deflated ZIP of the given files (name → text). */
export function zipOf(files: Record<string, string>): Uint8Array {
  const encoder = new TextEncoder();
  return zipSync(Object.fromEntries(Object.entries(files).map(([name, text]) => [name, encoder.encode(text)])));
}

/**
 * The archive with `name`'s declared uncompressed size replaced by `size`, in its local header and
 * in the central directory: a bomb that declares little and inflates to much more (or a damaged entry).
 */
export function lieAboutSize(archive: Uint8Array, name: string, size: number): Uint8Array {
  const copy = archive.slice();
  const view = new DataView(copy.buffer);
  const target = new TextEncoder().encode(name);
  const matches = (at: number, nameAt: number) =>
    view.getUint16(at, true) === target.length && target.every((b, i) => copy[nameAt + i] === b);
  let patched = 0;
  for (let at = 0; at + 46 <= copy.length; at++) {
    const signature = view.getUint32(at, true);
    if (signature === 0x04034b50 && matches(at + 26, at + 30)) {
      view.setUint32(at + 22, size, true);
      patched++;
    } else if (signature === 0x02014b50 && matches(at + 28, at + 46)) {
      view.setUint32(at + 24, size, true);
      patched++;
    }
  }
  if (patched !== 2) throw new Error(`lieAboutSize: ${name} not found`);
  return copy;
}
