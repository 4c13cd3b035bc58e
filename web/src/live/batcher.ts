// Collects items between animation frames and hands them over once per frame: at 200 events per
// second the DOM is updated at most 60 times a second, whatever the event rate.

export type FrameScheduler = (cb: () => void) => unknown;

const defaultScheduler: FrameScheduler = (cb) =>
  typeof requestAnimationFrame === "function" ? requestAnimationFrame(cb) : setTimeout(cb, 16);

export class FrameBatcher<T> {
  private queue: T[] = [];
  private scheduled = false;
  private paused = false;

  constructor(
    private readonly flush: (batch: T[]) => void,
    private readonly schedule: FrameScheduler = defaultScheduler,
  ) {}

  push(item: T): void {
    this.queue.push(item);
    this.kick();
  }

  /** Paused (e.g. the user is reading an expanded row): events queue up and are applied on resume. */
  setPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused) this.kick();
  }

  get pending(): number {
    return this.queue.length;
  }

  private kick(): void {
    if (this.scheduled || this.paused || this.queue.length === 0) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      if (this.paused) return;
      const batch = this.queue;
      this.queue = [];
      if (batch.length) this.flush(batch);
    });
  }

  clear(): void {
    this.queue = [];
  }
}
