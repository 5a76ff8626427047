// A progress bar on stderr: redrawn in place on a terminal, one line per update otherwise.
export class Progress {
  private shown = false;
  constructor(private total: number, private label: string, private enabled = total > 3) {}

  /** A new total and label (a run of several phases); keeps the bar's enabled state. */
  retarget(total: number, label: string): void {
    this.total = total;
    this.label = label;
  }

  update(done: number): void {
    if (!this.enabled) return;
    const width = 28;
    const fill = Math.round((done / this.total) * width);
    const bar = `${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${this.total}`;
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${bar}`);
      this.shown = true;
    } else {
      process.stderr.write(`${bar}\n`);
    }
  }

  done(): void {
    if (this.shown) process.stderr.write('\n');
  }
}
