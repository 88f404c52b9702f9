/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal (scripts and logs get
 * the summary alone).
 */
export class Progress {
  private readonly tty: boolean;
  private done = 0;

  constructor(
    private readonly total: number,
    private readonly label: string,
    stream: NodeJS.WriteStream = process.stderr,
    private readonly out: NodeJS.WriteStream = stream,
  ) {
    this.tty = stream.isTTY === true && total > 0;
  }

  /** One more item done. */
  tick(): void {
    this.done++;
    if (!this.tty) return;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    this.out.write(`\r${this.label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${this.done}/${this.total}`);
  }

  /** Clears the bar so the summary starts on a clean line. */
  end(): void {
    if (this.tty) this.out.write("\r\u001b[2K");
  }
}
