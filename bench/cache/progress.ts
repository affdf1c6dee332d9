// The progress line on stderr: rewritten in place (\r) on a terminal, one line
// per step otherwise so logs stay readable.

export class ProgressLine {
  private readonly tty: boolean;
  private shown = false; // a \r line is on screen and must be cleared before other output

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.tty = stream.isTTY === true;
  }

  /** A new step: always shown. */
  step(text: string): void {
    if (this.tty) this.rewrite(text);
    else process.stderr.write(text + '\n');
  }

  /** A tick within a step: only shown on a terminal. */
  tick(text: string): void {
    if (this.tty) this.rewrite(text);
  }

  /** Removes the line, so normal output starts on a clean line. */
  clear(): void {
    if (this.tty && this.shown) process.stderr.write('\r\x1b[2K');
    this.shown = false;
  }

  private rewrite(text: string): void {
    const width = process.stderr.columns ?? 100;
    process.stderr.write('\r\x1b[2K' + (text.length >= width ? text.slice(0, width - 1) : text));
    this.shown = true;
  }
}
