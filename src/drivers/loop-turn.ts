/**
 * Which turn of the event loop this is: a number that changes once the loop has gone round (at
 * its check phase) after it was asked for. Two calls that get the same number ran with no I/O
 * callback of any other source between them — a callback and the promise chains it resolved.
 */
let turn = 0;
let counting = false;

export function loopTurn(): number {
  if (!counting) {
    counting = true;
    // Unref'd: counting turns never keeps an embedding process alive.
    setImmediate(nextTurn).unref();
  }
  return turn;
}

function nextTurn(): void {
  turn++;
  counting = false;
}
