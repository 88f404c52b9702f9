import { isUtf8 } from "node:buffer";
import type { OutputChunk, OutputStream } from "./driver.js";

const EMPTY = Buffer.alloc(0);

/**
 * Collects one exec's output: both streams share one byte budget; past it, data is counted and
 * dropped (the exec is then `truncated`), so a flood costs reading, never memory. Every kept piece
 * is handed to `onChunk` with its stream offset as it arrives.
 */
export class OutputCapture {
  private readonly parts: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  private readonly kept: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  private remaining: number;
  private dropped = 0;

  constructor(
    budget: number,
    private readonly onChunk?: (chunk: OutputChunk) => void,
  ) {
    this.remaining = budget;
  }

  push(stream: OutputStream, data: Buffer): void {
    if (data.length === 0) return;
    let piece = data;
    if (piece.length > this.remaining) {
      this.dropped += piece.length - this.remaining;
      piece = piece.subarray(0, this.remaining);
      if (piece.length === 0) return;
    }
    this.remaining -= piece.length;
    // The caller's buffer may be reused (or be a view of a bigger one): keep a copy only when cut.
    const own = piece === data ? data : Buffer.from(piece);
    const offset = this.kept[stream];
    this.kept[stream] += own.length;
    this.parts[stream].push(own);
    this.onChunk?.({ stream, offset, data: own });
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  bytes(stream: OutputStream): Buffer {
    const parts = this.parts[stream];
    if (parts.length === 0) return EMPTY;
    if (parts.length === 1) return parts[0]!;
    const joined = Buffer.concat(parts);
    this.parts[stream] = [joined];
    return joined;
  }
}

/** Output as it goes on the wire: text, plus the exact bytes when they are not text as given. */
export interface EncodedOutput {
  /**
   * UTF-8 text; invalid sequences and NUL bytes show as U+FFFD (visibly replaced, never dropped
   * silently). NUL is not text the stores keep (core/storable.ts), so the exec event would be refused.
   */
  readonly text: string;
  /** The exact bytes, base64, present only when they are not valid UTF-8 or hold a NUL byte. */
  readonly base64?: string;
}

/**
 * Encodes a stream's bytes. When the output was cut at the cap, a multi-byte character split by
 * the cut is dropped first so that a clean UTF-8 stream does not look binary because of it.
 */
export function encodeOutput(bytes: Buffer, cut: boolean): EncodedOutput {
  const clean = cut ? withoutPartialTail(bytes) : bytes;
  if (clean.length === 0) return { text: "" };
  if (isUtf8(clean) && !clean.includes(0)) return { text: clean.toString("utf8") };
  return { text: clean.toString("utf8").replaceAll("\u0000", "\ufffd"), base64: clean.toString("base64") };
}

/** `bytes` without an incomplete UTF-8 sequence at its very end. */
export function withoutPartialTail(bytes: Buffer): Buffer {
  const n = bytes.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = bytes[n - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? bytes.subarray(0, n - back) : bytes;
  }
  return bytes;
}
