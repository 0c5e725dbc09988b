/** A one-line progress bar on stderr for long runs, only when stderr is a terminal. */
export interface Progress {
  update(done: number, total: number, detail: string): void;
  end(): void;
}

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update: () => {}, end: () => {} };
  let lastDraw = 0;
  let drawn = false;
  return {
    update(done, total, detail) {
      const now = Date.now();
      if (now - lastDraw < 100 && done < total) return;
      lastDraw = now;
      drawn = true;
      const width = 30;
      const fraction = total > 0 ? Math.min(done / total, 1) : 0;
      const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, '.');
      stream.write(`\r${label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${detail}\x1b[K`);
    },
    end() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
