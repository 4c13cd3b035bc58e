// Comparisons with the previous period that mean something: a bucket (or a period) with no
// interactions before has no previous average, rather than an average of 0.

interface ChangeLike {
  previous: number;
}

/** The previous period's average sentiment of a trend point, or null when that bucket was empty. */
export function previousAverage(p: { totalChange?: ChangeLike | undefined; averageSentimentChange?: ChangeLike | undefined }): number | null {
  if (!p.totalChange || !(p.totalChange.previous > 0) || !p.averageSentimentChange) return null;
  return p.averageSentimentChange.previous;
}

/** Whether the previous period had any interaction (otherwise every "change" is against nothing). */
export function hasPrevious(total: { change?: ChangeLike | undefined } | undefined): boolean {
  return !!total?.change && total.change.previous > 0;
}
