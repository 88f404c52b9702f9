/**
 * How an exec's command text travels to bash: as ANSI-C quoted strings (`$'…'`) on lines of
 * printable ASCII. Every other byte is written `\xHH`, so no byte of the command can reach the
 * terminal's line discipline as a control character (Ctrl-C, Ctrl-D, erase…) and no quote can
 * end the string early; bash turns the escapes back into the exact bytes.
 */

/** The longest line sent to bash: well under the 4095 bytes a canonical-mode terminal line may hold. */
export const MAX_LINE = 2048;

const HEX = Array.from({ length: 256 }, (_, b) => `\\x${b.toString(16).padStart(2, "0")}`);

/** The pieces of `$'…'` bodies that together spell `text`, each at most `maxPiece` characters. */
export function ansiCPieces(text: string, maxPiece: number = MAX_LINE): string[] {
  const bytes = Buffer.from(text, "utf8");
  const pieces: string[] = [];
  let current = "";
  let plainStart = -1;
  const flushPlain = (end: number) => {
    if (plainStart >= 0) {
      current += bytes.toString("latin1", plainStart, end);
      plainStart = -1;
    }
  };
  for (let i = 0; i < bytes.length; i++) {
    if (current.length + (plainStart >= 0 ? i - plainStart : 0) + 4 > maxPiece) {
      flushPlain(i);
      pieces.push(current);
      current = "";
    }
    const b = bytes[i]!;
    const plain = b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c;
    if (plain) {
      if (plainStart < 0) plainStart = i;
    } else {
      flushPlain(i);
      current += HEX[b]!;
    }
  }
  flushPlain(bytes.length);
  if (current.length || pieces.length === 0) pieces.push(current);
  return pieces;
}

/** A bash word that expands to exactly `text` (for short, trusted strings such as paths). */
export function ansiC(text: string): string {
  return `$'${ansiCPieces(text, Number.MAX_SAFE_INTEGER)[0]!}'`;
}
